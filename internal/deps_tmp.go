package internal

import (
	_ "github.com/caarlos0/env/v11"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"
	_ "github.com/testcontainers/testcontainers-go/modules/postgres"
	_ "go.uber.org/goleak"
	_ "github.com/prometheus/client_golang/prometheus"
)

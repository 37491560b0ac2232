module github.com/syncd-io/syncd

go 1.26

package state

import "time"

// isRFC3339 reports whether ts is an RFC 3339 date-time as Go's time.Parse
// with time.RFC3339Nano accepts it. The shape every producer writes
// (2026-01-02T15:04:05.000Z, with or without a fraction, Z or ±hh:mm) is
// checked in place; anything else goes to time.Parse, which decides.
func isRFC3339(ts []byte) bool {
	if plainRFC3339(ts) {
		return true
	}
	_, err := time.Parse(time.RFC3339Nano, string(ts))
	return err == nil
}

// plainRFC3339 reports whether ts is YYYY-MM-DDTHH:MM:SS[.F{1,9}](Z|±HH:MM)
// with every field in range: a subset of what time.Parse accepts.
func plainRFC3339(ts []byte) bool {
	if len(ts) < 20 || ts[4] != '-' || ts[7] != '-' || ts[10] != 'T' || ts[13] != ':' || ts[16] != ':' {
		return false
	}
	year, ok1 := num(ts[0:4])
	month, ok2 := num(ts[5:7])
	day, ok3 := num(ts[8:10])
	hour, ok4 := num(ts[11:13])
	minute, ok5 := num(ts[14:16])
	sec, ok6 := num(ts[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return false
	}
	rest := ts[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n]-'0' <= 9 {
			n++
		}
		if n == 1 || n > 10 {
			return false
		}
		rest = rest[n:]
	}
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		return ok1 && ok2 && oh <= 23 && om <= 59
	}
	return false
}

// num parses a run of ASCII digits.
func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c-'0' > 9 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days of month in year (Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

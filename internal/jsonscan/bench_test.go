package jsonscan

import "testing"

// w1Message is a change event shaped like those of syncd-bench's W1.
const w1Message = `{"type":"user","key":"user-0000012345","value":{"id":"user-0000012345","name":"qwertyuiopas","email":"zxcvbnml@example.com","version":7,"score":12345.25,"active":true,"tags":["abcde","fghijk","lmno"],"address":{"city":"qwertyuio","zip":"54321","geo":{"lat":-12.5,"lng":101.75,"verified":false}}},"headers":{"operation":"upsert","txid":"tx-0000001234","timestamp":"2026-01-01T00:16:40.123Z"}}`

func BenchmarkScan(b *testing.B) {
	var s Scanner
	msg := []byte(w1Message)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, ok := s.Value(msg, 0); !ok {
			b.Fatal("invalid")
		}
	}
}

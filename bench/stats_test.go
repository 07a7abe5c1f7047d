package bench

import "testing"

func TestParseInspectStatistics(t *testing.T) {
	text := "Sessions: 12 in use of 4096, 3 half-open; 40000 created, 39988 deleted\n" +
		"Workers: 1; frames handed over between workers: 0\n" +
		"Interfaces:\n  Ethernet0/0    in0      rx 5 packets 300 bytes, tx 5 packets 300 bytes\n" +
		"Drops:\n  SMTP inspection pool full            4012\n  TCP non-SYN without session          7\n"
	st, err := ParseInspectStatistics(text)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 12 || st.MaxSessions != 4096 || st.HalfOpen != 3 || st.Created != 40000 || st.Deleted != 39988 {
		t.Errorf("sessions: %+v", st)
	}
	if st.Drops["SMTP inspection pool full"] != 4012 || st.Drops["TCP non-SYN without session"] != 7 || len(st.Drops) != 2 {
		t.Errorf("drops: %v", st.Drops)
	}
	st, err = ParseInspectStatistics("Sessions: 0 in use of 10, 0 half-open; 0 created, 0 deleted\nDrops:\n  none\n")
	if err != nil || len(st.Drops) != 0 {
		t.Errorf("no drops: %v %v", st.Drops, err)
	}
	if _, err := ParseInspectStatistics("% Invalid input\n"); err == nil {
		t.Error("no Sessions line: want an error")
	}
}

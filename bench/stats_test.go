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

func TestSinkMessages(t *testing.T) {
	out := "sess=1 quit=1 mesg=0\rsess=3 quit=2 mesg=1\rsess=17 quit=16 mesg=100000\r"
	if n, ok := SinkMessages(out); !ok || n != 100000 {
		t.Errorf("SinkMessages = %d, %v; want 100000, true", n, ok)
	}
	if _, ok := SinkMessages("smtp-sink: fatal: bind 10.10.10.2 port 25: Address in use\n"); ok {
		t.Error("no counter: want ok false")
	}
}

package smtpfsm

import (
	"strings"
	"testing"
)

func traceLines(tr *Trace) []string {
	var l []string
	for i := 0; i < tr.N; i++ {
		l = append(l, tr.Events[i].String())
	}
	return l
}

func feedTraced(t *testing.T, s *Session, p *Policy, server bool, segs ...string) []string {
	t.Helper()
	var all []string
	var tr Trace
	for _, seg := range segs {
		tr.Reset()
		if server {
			s.Server(p, []byte(seg), &tr)
		} else {
			s.Client(p, []byte(seg), &tr)
		}
		all = append(all, traceLines(&tr)...)
	}
	return all
}

func TestTraceSeedFormat(t *testing.T) {
	p := smtpPolicy
	var s Session
	cases := []struct {
		name   string
		server bool
		segs   []string
		want   []string
	}{
		{
			name: "greeting", server: true, segs: []string{"220 mx.example.com ESMTP Postfix\r\n"},
			want: []string{
				"CBAC SMTP: reply_type OTHERS",
				"CBAC SMTP: OTHER REPLY - Reply len: 34, match_len:34, reply_re_state:5",
				"CBAC SMTP: OTHER REPLY match id:13",
				"CBAC SMTP: OTHER REPLY match id:10",
				"CBAC SMTP: End Of Reply Line - index:0 ,len:34",
			},
		},
		{
			// Typed one byte per segment, as in the seed's log.
			name: "HELO typed", segs: []string{"H", "E", "L", "O", " ", "a", "\r", "\n"},
			want: []string{
				"CBAC SMTP: VERB - Cmd len:1, match_len:1, cmd_re_state:6",
				"CBAC SMTP: VERB - Cmd len:2, match_len:1, cmd_re_state:7",
				"CBAC SMTP: VERB - Cmd len:3, match_len:1, cmd_re_state:8",
				"CBAC SMTP: VERB - Cmd len:4, match_len:1, cmd_re_state:9",
				"CBAC SMTP: VERB - match id:2",
				"CBAC SMTP: CMD PARAM - Cmd len:5, match_len:1, cmd_re_state:2",
				"CBAC SMTP: CMD PARAM - Cmd len:6, match_len:1, cmd_re_state:2",
				"CBAC SMTP: CMD PARAM - Cmd len:7, match_len:1, cmd_re_state:3",
				"CBAC SMTP: CMD PARAM - Cmd len:8, match_len:1, cmd_re_state:3",
				"CBAC SMTP: CMD PARAM - match id:6",
				"CBAC SMTP: End Of Command Line - index:1, len:8",
			},
		},
		{
			name: "HELO reply in two segments", server: true, segs: []string{"250-mx\r\n25", "0 ok\r\n"},
			want: []string{
				"CBAC SMTP: reply_type HELO",
				"CBAC SMTP: OTHER REPLY - Reply len: 8, match_len:8, reply_re_state:4",
				"CBAC SMTP: OTHER REPLY match id:13",
				"CBAC SMTP: End Of Reply Line - index:1 ,len:8",
				"CBAC SMTP: reply_type HELO",
				"CBAC SMTP: OTHER REPLY - Reply len: 2, match_len:2, reply_re_state:2",
				"CBAC SMTP: OTHER REPLY - Reply len: 8, match_len:6, reply_re_state:5",
				"CBAC SMTP: OTHER REPLY match id:13",
				"CBAC SMTP: OTHER REPLY match id:10",
				"CBAC SMTP: End Of Reply Line - index:2 ,len:8",
			},
		},
		{
			name: "DATA in two segments", segs: []string{"DA", "TA\r\n"},
			want: []string{
				"CBAC SMTP: VERB - Cmd len:2, match_len:2, cmd_re_state:3",
				"CBAC SMTP: VERB - Cmd len:4, match_len:2, cmd_re_state:5",
				"CBAC SMTP: VERB - match id:1",
				"CBAC SMTP: CMD PARAM - Cmd len:6, match_len:2, cmd_re_state:3",
				"CBAC SMTP: CMD PARAM - match id:6",
				"CBAC SMTP: End Of Command Line - index:2, len:6",
			},
		},
		{
			name: "DATA reply", server: true, segs: []string{"354 go\r\n"},
			want: []string{
				"CBAC SMTP: reply_type DATA",
				"CBAC SMTP: OTHER REPLY - Reply len: 8, match_len:8, reply_re_state:5",
				"CBAC SMTP: OTHER REPLY match id:13",
				"CBAC SMTP: OTHER REPLY match id:10",
				"CBAC SMTP: End Of Reply Line - index:3 ,len:8",
			},
		},
		{
			name: "message data is not traced", segs: []string{"EXPN body\r\n.\r\n"},
		},
		{
			name: "illegal verb", segs: []string{"QZ\r\n"},
			want: []string{
				"CBAC SMTP: VERB - Cmd len:2, match_len:2, cmd_re_state:0",
				"CBAC SMTP: CMD PARAM - Cmd len:4, match_len:2, cmd_re_state:3",
				"CBAC SMTP: CMD PARAM - match id:6",
				"CBAC SMTP: End Of Command Line - index:3, len:4",
			},
		},
		{
			name: "malformed reply", server: true, segs: []string{"250 ok\r\nxyz\r\n"},
			want: []string{
				"CBAC SMTP: reply_type OTHERS",
				"CBAC SMTP: OTHER REPLY - Reply len: 8, match_len:8, reply_re_state:5",
				"CBAC SMTP: OTHER REPLY match id:13",
				"CBAC SMTP: OTHER REPLY match id:10",
				"CBAC SMTP: End Of Reply Line - index:4 ,len:8",
				"CBAC SMTP: reply_type OTHERS",
				"CBAC SMTP: OTHER REPLY - Reply len: 5, match_len:5, reply_re_state:6",
				"CBAC SMTP: End Of Reply Line - index:5 ,len:5",
			},
		},
	}
	for _, tc := range cases {
		got := feedTraced(t, &s, &p, tc.server, tc.segs...)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

func TestTraceFullDropsAndCounts(t *testing.T) {
	var s Session
	var tr Trace
	p := smtpPolicy
	s.Client(&p, []byte(strings.Repeat("NOOP\r\n", 40)), &tr)
	if tr.N != len(tr.Events) || tr.Dropped == 0 {
		t.Fatalf("N %d Dropped %d", tr.N, tr.Dropped)
	}
	if tr.N+tr.Dropped != 40*5 {
		t.Fatalf("events %d, want %d", tr.N+tr.Dropped, 40*5)
	}
}

func TestTraceDoesNotChangeVerdicts(t *testing.T) {
	for _, tc := range transcriptCases() {
		var a, b Session
		var tr Trace
		for _, st := range tc.steps {
			x, y := []byte(st.data), []byte(st.data)
			var ra, rb Result
			tr.Reset()
			if st.server {
				ra, rb = a.Server(&tc.policy, x, nil), b.Server(&tc.policy, y, &tr)
			} else {
				ra, rb = a.Client(&tc.policy, x, nil), b.Client(&tc.policy, y, &tr)
			}
			if ra != rb || string(x) != string(y) {
				t.Fatalf("%s: tracing changed the result", tc.name)
			}
		}
		if a != b {
			t.Fatalf("%s: tracing changed the session", tc.name)
		}
	}
}

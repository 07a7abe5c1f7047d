package lab

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWebPage(t *testing.T) {
	for _, tc := range []struct {
		method string
		code   int
		body   string
	}{
		{http.MethodGet, 200, WebPage},
		{http.MethodHead, 200, ""},
		{http.MethodPost, 405, "only GET and HEAD\n"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			serveWebPage(rec, httptest.NewRequest(tc.method, "http://203.0.113.1/", nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.code || (tc.method != http.MethodHead && string(body) != tc.body) {
				t.Errorf("%s: %d %q, want %d %q", tc.method, res.StatusCode, body, tc.code, tc.body)
			}
		})
	}
}

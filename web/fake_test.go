package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/visiongate/visiongate/gateway/api"
	"github.com/visiongate/visiongate/gateway/config"
)

// fakeSources is an in-memory Sources that runs the real config
// validation, so the API tests exercise the real URL policy.
type fakeSources struct {
	mu   sync.Mutex
	srcs map[string]config.Source
}

func newFake(names ...string) *fakeSources {
	f := &fakeSources{srcs: map[string]config.Source{}}
	for _, n := range names {
		f.srcs[n] = config.Source{Name: n, URL: "rtsp://admin:secret@cam.example/" + n,
			Vision: &config.Vision{Detector: "people", FPS: 5}}
	}
	return f
}

func (f *fakeSources) status(s config.Source) api.Status {
	s.URL = config.MaskURL(s.URL)
	return api.Status{Name: s.Name, State: api.StateStarting, Source: s}
}

func (f *fakeSources) List() []api.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Status
	for _, s := range f.srcs {
		out = append(out, f.status(s))
	}
	slices.SortFunc(out, func(a, b api.Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (f *fakeSources) Get(name string) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.srcs[name]
	if !ok {
		return api.Status{}, api.ErrNotFound
	}
	return f.status(s), nil
}

func (f *fakeSources) Add(src config.Source) (api.Status, error) {
	if err := src.Validate(false); err != nil {
		return api.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.srcs[src.Name]; ok {
		return api.Status{}, api.ErrExists
	}
	f.srcs[src.Name] = src
	return f.status(src), nil
}

func (f *fakeSources) Update(name string, patch json.RawMessage) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.srcs[name]
	if !ok {
		return api.Status{}, api.ErrNotFound
	}
	next, err := applyPatch(cur, patch)
	if err != nil {
		return api.Status{}, err
	}
	if err := next.Validate(false); err != nil {
		return api.Status{}, err
	}
	f.srcs[name] = next
	return f.status(next), nil
}

func (f *fakeSources) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.srcs[name]; !ok {
		return api.ErrNotFound
	}
	delete(f.srcs, name)
	return nil
}

// applyPatch is RFC 7396 on the source's JSON form.
func applyPatch(cur config.Source, patch json.RawMessage) (config.Source, error) {
	doc, err := json.Marshal(cur)
	if err != nil {
		return cur, err
	}
	var target, p any
	if err := json.Unmarshal(doc, &target); err != nil {
		return cur, err
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return cur, &config.ValidationError{Reason: err.Error()}
	}
	merged, err := json.Marshal(mergePatch(target, p))
	if err != nil {
		return cur, err
	}
	var next config.Source
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&next); err != nil {
		return cur, &config.ValidationError{Reason: err.Error()}
	}
	return next, nil
}

func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// serve sends one request; a non-empty body gets Content-Type
// application/json unless ctype says otherwise ("-" sends none).
func serve(t testing.TB, h http.Handler, method, path, body, ctype string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	switch {
	case ctype == "-":
	case ctype != "":
		req.Header.Set("Content-Type", ctype)
	case body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// decodeJSON checks that a response is JSON and decodes it into v.
func decodeJSON(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, rec.Body)
	}
}

// wantError checks status, the {"error": ...} shape and the field name.
func wantError(t testing.TB, rec *httptest.ResponseRecorder, code int, field string) errorBody {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d; body %s", rec.Code, code, rec.Body)
	}
	var e errorBody
	decodeJSON(t, rec, &e)
	if e.Error == "" {
		t.Fatalf("empty error message: %s", rec.Body)
	}
	if e.Field != field {
		t.Fatalf("field %q, want %q; body %s", e.Field, field, rec.Body)
	}
	return e
}

// syncBuffer is a log sink the race detector is happy with.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)

package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/visiongate/visiongate/gateway/config"
)

var (
	sourceType      = reflect.TypeFor[config.Source]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// readObject checks the content type and reads the body as one JSON
// object, answering 415, 413 or 400 itself when it cannot.
func (a *sourcesAPI) readObject(c *gin.Context, types []string) (json.RawMessage, bool) {
	if err := checkContentType(c.GetHeader("Content-Type"), types); err != nil {
		writeError(c, http.StatusUnsupportedMediaType, err.Error())
		return nil, false
	}
	raw, err := readBody(c.Writer, c.Request, a.maxBody)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(c, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body is larger than %d bytes", a.maxBody))
	case err != nil:
		writeError(c, http.StatusBadRequest, err.Error())
	default:
		return raw, true
	}
	return nil, false
}

// checkContentType accepts the allowed media types with or without a
// charset parameter, as long as the charset is UTF-8 (JSON's only one).
func checkContentType(header string, allowed []string) error {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil || !slices.Contains(allowed, mt) {
		return fmt.Errorf("content type must be %s", strings.Join(allowed, " or "))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("charset must be utf-8, not %q", cs)
	}
	return nil
}

// readBody reads exactly one JSON object: empty bodies, other JSON values
// and anything after the object are rejected.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) (json.RawMessage, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, bodyErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, errors.New("unexpected data after the JSON object")
	}
	if raw[0] != '{' {
		return nil, errors.New("request body must be a JSON object")
	}
	return raw, nil
}

func bodyErr(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of input")
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte %d: %v", syn.Offset, err)
	}
	return err // *http.MaxBytesError, or the client's read error
}

// decodeSource decodes a create request into a Source. The full config
// validation is left to Sources.Add, which owns the URL policy.
func decodeSource(raw json.RawMessage) (config.Source, error) {
	var src config.Source
	if err := checkObject(raw, sourceType, ""); err != nil {
		return src, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&src); err != nil {
		return src, &config.ValidationError{Reason: "invalid source: " + err.Error()}
	}
	if !config.ValidName(src.Name) {
		return src, badName
	}
	return src, nil
}

// checkPatch checks a merge patch's keys and values like a create body and
// refuses renames: the name is the resource's identity.
func checkPatch(raw json.RawMessage, name string) error {
	if err := checkObject(raw, sourceType, ""); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return &config.ValidationError{Reason: "invalid patch: " + err.Error()}
	}
	if v, ok := fields["name"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || s != name {
			return &config.ValidationError{Field: "name",
				Reason: "cannot be changed; remove the source and add it again"}
		}
	}
	return nil
}

// checkObject walks a JSON object against the json tags of struct type t.
// Left to itself encoding/json would accept keys in any letter case, keep
// the last of duplicate keys and report type errors without a field path.
func checkObject(raw json.RawMessage, t reflect.Type, path string) error {
	fields := jsonFields(t)
	seen := make(map[string]bool, len(fields))
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // the opening brace
		return &config.ValidationError{Field: path, Reason: err.Error()}
	}
	for dec.More() {
		tok, err := dec.Token()
		key, _ := tok.(string)
		field := joinPath(path, key)
		var val json.RawMessage
		if err == nil {
			err = dec.Decode(&val)
		}
		ft, known := fields[key]
		switch {
		case err != nil:
			return &config.ValidationError{Field: path, Reason: err.Error()}
		case !known:
			return &config.ValidationError{Field: field, Reason: "unknown field"}
		case seen[key]:
			return &config.ValidationError{Field: field, Reason: "duplicate field"}
		}
		seen[key] = true
		if err := checkValue(val, ft, field); err != nil {
			return err
		}
	}
	return nil
}

// checkValue type-checks one value. null always passes: it means absent
// on create and "remove" in a merge patch.
func checkValue(raw json.RawMessage, t reflect.Type, path string) error {
	if string(raw) == "null" {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType) {
		if raw[0] != '{' {
			return &config.ValidationError{Field: path, Reason: "must be an object"}
		}
		return checkObject(raw, t, path)
	}
	err := json.Unmarshal(raw, reflect.New(t).Interface())
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return &config.ValidationError{Field: path,
			Reason: fmt.Sprintf("must be %s, not %s", describe(t), te.Value)}
	case err != nil:
		return &config.ValidationError{Field: path, Reason: err.Error()}
	}
	return nil
}

// jsonFields maps the JSON names of t's exported fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

func describe(t reflect.Type) string {
	switch k := t.Kind(); {
	case k == reflect.String:
		return "a string"
	case k == reflect.Bool:
		return "true or false"
	case k >= reflect.Int && k <= reflect.Int64:
		return "an integer"
	case k >= reflect.Uint && k <= reflect.Uint64:
		return "a non-negative integer"
	case k == reflect.Float32 || k == reflect.Float64:
		return "a number"
	case k == reflect.Slice || k == reflect.Array:
		return "an array"
	}
	return "an object"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

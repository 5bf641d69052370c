// Package openapitest checks HTTP traffic against the official OpenAPI documents of
// the services the bot talks to (Discord, RallyHere, Bungie), so that every fake used
// in tests refuses a request the real service would refuse. It also holds what those
// fakes share: Recorder, to test that a fake reports a bad request, and Delay.
//
// The documents are the files of ../shared/specs, copied into specs/ and embedded.
package openapitest

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/cache"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
)

//go:embed specs/*.json
var specs embed.FS

// Spec names one embedded OpenAPI document.
type Spec string

// The documents the fakes validate against.
const (
	Discord            Spec = "discord-openapi.json"
	Bungie             Spec = "bungie-openapi.json"
	RallyHereSanctions Spec = "rallyhere-sanctions.json"
	RallyHereUsers     Spec = "rallyhere-users.json"
)

// Validator validates requests and responses against one OpenAPI document. It is safe
// for concurrent use: validations take turns, because libopenapi changes its model
// while it renders a schema (the race detector says so).
type Validator struct {
	spec Spec
	mu   sync.Mutex
	v    validator.Validator
}

// with runs f with the validator, alone.
func (v *Validator) with(f func(validator.Validator)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v.v)
}

var (
	loadMu sync.Mutex
	loaded = map[Spec]*Validator{}
)

// Load returns the validator of spec, building it once per test binary. Schemas are
// compiled when first used: compiling all of Discord's up front takes tens of seconds.
func Load(spec Spec) (*Validator, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if v, ok := loaded[spec]; ok {
		return v, nil
	}
	v, err := Own(spec)
	if err != nil {
		return nil, err
	}
	loaded[spec] = v
	return v, nil
}

// Own returns a validator of spec that no one else uses: for a test whose first
// validations compile large schemas (Discord's message alone takes 25 s under the
// race detector), which on the shared validator of Load would hold up every other
// validation in the process for as long. It costs a parse of the document.
func Own(spec Spec) (*Validator, error) {
	raw, err := specs.ReadFile("specs/" + string(spec))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", spec, err)
	}
	return FromDocument(spec, raw)
}

// FromDocument returns a validator of the OpenAPI document raw, named spec in its
// messages: for a document kept beside the code it describes (the webhook's).
func FromDocument(spec Spec, raw []byte) (*Validator, error) {
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", spec, err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", spec, err)
	}
	lc := &lazyCache{}
	lc.warming.Store(true)
	out := &Validator{spec: spec, v: validator.NewValidatorFromV3Model(&model.Model, config.WithSchemaCache(lc), config.WithRegexCache(&sync.Map{}), config.WithFormatAssertions())}
	lc.warming.Store(false)
	lc.renderParameters(&model.Model)
	return out, nil
}

// MustLoad is Load for test set-up; it panics when the embedded document is broken.
func MustLoad(spec Spec) *Validator {
	v, err := Load(spec)
	if err != nil {
		panic(err)
	}
	return v
}

// Request validates r (path, parameters, security, body) and leaves r's body readable.
func (v *Validator) Request(r *http.Request) error {
	body, err := readBody(&r.Body)
	if err != nil {
		return err
	}
	// The validator reads the body; give it its own copy so r stays intact.
	clone := r.Clone(r.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	var ok bool
	var errs []*verrors.ValidationError
	v.with(func(one validator.Validator) { ok, errs = one.ValidateHttpRequest(clone) })
	if ok {
		return nil
	}
	return describe(v.spec, r.Method+" "+r.URL.Path, errs)
}

// Response validates a response the fake is about to send for r.
func (v *Validator) Response(r *http.Request, status int, header http.Header, body []byte) error {
	resp := &http.Response{
		StatusCode: status,
		Header:     header.Clone(),
		Body:       io.NopCloser(bytes.NewReader(body)),
		Request:    r,
	}
	clone := r.Clone(r.Context())
	clone.Body = http.NoBody
	var ok bool
	var errs []*verrors.ValidationError
	v.with(func(one validator.Validator) { ok, errs = one.ValidateHttpResponse(clone, resp) })
	if ok {
		return nil
	}
	return describe(v.spec, fmt.Sprintf("response %d to %s %s", status, r.Method, r.URL.Path), errs)
}

// Handler wraps next so that every request it receives and every response it writes is
// validated. A request that fails validation is answered with reject (status and body)
// without reaching next; every failure is passed to report.
func (v *Validator) Handler(next http.Handler, report func(error), reject func(w http.ResponseWriter, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := v.Request(r); err != nil {
			report(err)
			reject(w, err)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		res := rec.Result()
		body := rec.Body.Bytes()
		if isJSON(res.Header) && res.StatusCode != http.StatusNoContent {
			if err := v.Response(r, res.StatusCode, res.Header, body); err != nil {
				report(err)
			}
		}
		for k, vals := range res.Header {
			w.Header()[k] = vals
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	})
}

func isJSON(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "application/json")
}

func readBody(body *io.ReadCloser) ([]byte, error) {
	if *body == nil || *body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(*body)
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	(*body).Close()
	*body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

func describe(spec Spec, what string, errs []*verrors.ValidationError) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s does not match the document:", spec, what)
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s", e.Message)
		if e.Reason != "" && e.Reason != e.Message {
			fmt.Fprintf(&b, " (%s)", e.Reason)
		}
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s: %s", s.FieldPath, s.Reason)
		}
	}
	return errors.New(b.String())
}

// lazyCache is a schema cache that refuses the validator's up-front warming (by
// claiming every schema is cached while warming) and then caches for real.
type lazyCache struct {
	warming atomic.Bool
	m       sync.Map
}

// renderParameters caches the rendering of every parameter's schema. The validator
// renders a parameter's schema on every request that has it (for the text of an error
// it may never report), and keeps the rendering only when the up-front warming (which
// the cache refuses) made it: 0.65 ms of a RallyHere GET's validation, most of a long
// test's (BenchmarkRequests/rallyhere_list). Parameter schemas are small, so rendering all of
// them once costs little even for Discord's document.
func (c *lazyCache) renderParameters(doc *v3.Document) {
	if doc.Paths == nil {
		return
	}
	render := func(params []*v3.Parameter) {
		for _, p := range params {
			var proxy *base.SchemaProxy
			if p.Schema != nil {
				proxy = p.Schema
			} else if first := orderedmap.First(p.Content); first != nil {
				proxy = first.Value().Schema
			}
			if proxy == nil {
				continue
			}
			sch := proxy.Schema()
			if sch == nil || sch.GoLow() == nil {
				continue
			}
			key := sch.GoLow().Hash()
			if _, ok := c.m.Load(key); ok {
				continue
			}
			rendered, err := sch.RenderInlineWithContext(base.NewInlineRenderContextForValidation())
			if err != nil || len(rendered) == 0 {
				continue // rendered per request, as without the cache
			}
			c.m.Store(key, &cache.SchemaCacheEntry{Schema: sch, RenderedInline: rendered, ReferenceSchema: string(rendered)})
		}
	}
	for item := orderedmap.First(doc.Paths.PathItems); item != nil; item = item.Next() {
		render(item.Value().Parameters)
		for op := orderedmap.First(item.Value().GetOperations()); op != nil; op = op.Next() {
			render(op.Value().Parameters)
		}
	}
}

func (c *lazyCache) Load(key uint64) (*cache.SchemaCacheEntry, bool) {
	if c.warming.Load() {
		return nil, true
	}
	v, ok := c.m.Load(key)
	if !ok {
		return nil, false
	}
	return v.(*cache.SchemaCacheEntry), true
}

func (c *lazyCache) Store(key uint64, value *cache.SchemaCacheEntry) {
	if c.warming.Load() {
		return
	}
	c.m.Store(key, value)
}

func (c *lazyCache) Range(f func(key uint64, value *cache.SchemaCacheEntry) bool) {
	c.m.Range(func(k, v any) bool { return f(k.(uint64), v.(*cache.SchemaCacheEntry)) })
}

// Enum returns the values of the schema named name in spec's components: the const of
// each of its oneOf alternatives (as Discord's document writes its enums), or its enum.
func Enum(spec Spec, name string) ([]string, error) {
	raw, err := specs.ReadFile("specs/" + string(spec))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", spec, err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", spec, err)
	}
	var schema struct {
		Enum  []any `json:"enum"`
		OneOf []struct {
			Const any `json:"const"`
		} `json:"oneOf"`
	}
	if err := json.Unmarshal(doc.Components.Schemas[name], &schema); err != nil {
		return nil, fmt.Errorf("%s: schema %s: %w", spec, name, err)
	}
	values := slices.Clone(schema.Enum)
	for _, o := range schema.OneOf {
		values = append(values, o.Const)
	}
	var out []string
	for _, v := range values {
		out = append(out, fmt.Sprint(v))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: schema %s has no values", spec, name)
	}
	return out, nil
}

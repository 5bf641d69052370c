package bungie

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/reportbot/reportbot/reporting/upstream"
)

// Category is a report reason category of the manifest
// (DestinyReportReasonCategoryDefinition) and its reasons. A reason's hash is unique
// only within its category.
type Category struct {
	Hash    uint32
	Name    string
	Index   int
	Reasons []Reason
}

// Reason is one reason of a category.
type Reason struct {
	Hash uint32
	Name string
}

//go:embed reasons.json
var shippedReasons []byte

// ShippedReasons are the categories of the manifest copy built into the binary, for
// when Bungie cannot be reached.
func ShippedReasons() []Category {
	c, err := ParseReasons(shippedReasons)
	if err != nil {
		panic("the shipped DestinyReportReasonCategoryDefinition is broken: " + err.Error())
	}
	return c
}

// ParseReasons reads a DestinyReportReasonCategoryDefinition component: categories in
// the manifest's order, reasons by name with "Other" last.
func ParseReasons(raw []byte) ([]Category, error) {
	var defs map[string]struct {
		Hash              uint32 `json:"hash"`
		Index             int    `json:"index"`
		Redacted          bool   `json:"redacted"`
		DisplayProperties struct {
			Name string `json:"name"`
		} `json:"displayProperties"`
		Reasons map[string]struct {
			ReasonHash        uint32 `json:"reasonHash"`
			DisplayProperties struct {
				Name string `json:"name"`
			} `json:"displayProperties"`
		} `json:"reasons"`
	}
	if err := json.Unmarshal(raw, &defs); err != nil {
		return nil, fmt.Errorf("decoding report reasons: %w", err)
	}
	var out []Category
	for _, d := range defs {
		if d.Redacted || d.DisplayProperties.Name == "" {
			continue
		}
		c := Category{Hash: d.Hash, Name: d.DisplayProperties.Name, Index: d.Index}
		for _, r := range d.Reasons {
			c.Reasons = append(c.Reasons, Reason{Hash: r.ReasonHash, Name: r.DisplayProperties.Name})
		}
		slices.SortFunc(c.Reasons, func(a, b Reason) int {
			if (a.Name == "Other") != (b.Name == "Other") {
				if a.Name == "Other" {
					return 1
				}
				return -1
			}
			return cmp.Compare(a.Name, b.Name)
		})
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("decoding report reasons: no category")
	}
	slices.SortFunc(out, func(a, b Category) int { return cmp.Compare(a.Index, b.Index) })
	return out, nil
}

// Reasons fetches the report reasons of the current manifest in lang, one of
// Bungie's language codes (en, de, fr, es, pt-br, pl, …): the manifest names the
// component's path for each language, which is read from the web host.
func (c *Client) Reasons(ctx context.Context, lang string) ([]Category, error) {
	var manifest struct {
		Paths map[string]map[string]string `json:"jsonWorldComponentContentPaths"`
	}
	if err := c.call(ctx, "manifest", http.MethodGet, c.apiURL+"/Destiny2/Manifest/", "", nil, &manifest); err != nil {
		return nil, err
	}
	path := manifest.Paths[lang]["DestinyReportReasonCategoryDefinition"]
	if path == "" {
		return nil, fmt.Errorf("bungie manifest: %w: no DestinyReportReasonCategoryDefinition path in %q", ErrOutage, lang)
	}
	req, err := http.NewRequestWithContext(upstream.WithOp(ctx, "manifest-component"), http.MethodGet, c.webURL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("bungie manifest component: %w", err)
	}
	req.Header.Set("X-API-Key", c.apiKey)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bungie manifest component: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("bungie manifest component: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bungie manifest component: HTTP %d: %w", resp.StatusCode, ErrOutage)
	}
	cats, err := ParseReasons(raw)
	if err != nil {
		return nil, fmt.Errorf("bungie manifest component: %w: %v", ErrOutage, err)
	}
	return cats, nil
}

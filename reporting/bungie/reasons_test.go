package bungie

import "testing"

func TestShippedReasons(t *testing.T) {
	t.Parallel()
	cats := ShippedReasons()
	if len(cats) != 9 || cats[0].Name != "Abusive Chat" {
		t.Fatalf("%d categories, first %q", len(cats), cats[0].Name)
	}
	var hacking bool
	for _, c := range cats {
		if c.Reasons[len(c.Reasons)-1].Name != "Other" && len(c.Reasons) > 1 {
			t.Errorf("%s: Other is not last: %+v", c.Name, c.Reasons)
		}
		if c.Name == "Cheating" {
			for _, r := range c.Reasons {
				hacking = hacking || (r.Name == "Hacking" && r.Hash == 2352608786 && c.Hash == 1851805954)
			}
		}
	}
	if !hacking {
		t.Fatal("Cheating › Hacking missing")
	}
	if _, err := ParseReasons([]byte(`{}`)); err == nil {
		t.Fatal("an empty component parsed")
	}
}

package engine

import (
	"encoding/json"
	"testing"
)

// The sequencer's commands cross replicas as JSON: names now, numbers
// from replicas of the release before.
func TestVocabularyReadsNamesAndNumbers(t *testing.T) {
	var o struct {
		Side Side
		Kind Kind
		TIF  TimeInForce
	}
	for _, in := range []string{`{"Side":"sell","Kind":"market","TIF":"IOC"}`, `{"Side":2,"Kind":2,"TIF":2}`} {
		if err := json.Unmarshal([]byte(in), &o); err != nil || o.Side != Sell || o.Kind != Market || o.TIF != IOC {
			t.Fatalf("%s: %+v %v", in, o, err)
		}
	}
	out, _ := json.Marshal(o)
	if string(out) != `{"Side":"sell","Kind":"market","TIF":"IOC"}` {
		t.Fatalf("marshal: %s", out)
	}
	if err := json.Unmarshal([]byte(`{"Side":"up"}`), &o); err == nil {
		t.Fatal("an unknown side was read")
	}
}

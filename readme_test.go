package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEReactExampleIsTheCheckedOne: the React example in the README is, line
// for line, the file the headless-browser check runs (internal/browsercheck), so
// the code users copy is the code that was seen to work.
func TestREADMEReactExampleIsTheCheckedOne(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	live, err := os.ReadFile("internal/browsercheck/react/live.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```js\n"+string(live)+"```\n") {
		t.Fatal("README.md does not show internal/browsercheck/react/live.js as its React example; copy the file into the README")
	}
}

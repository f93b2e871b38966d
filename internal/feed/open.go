package feed

import (
	"compress/gzip"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Format is a feed file format.
type Format string

// The formats readers exist for.
const (
	FormatNDJSON Format = "ndjson"
	FormatCSV    Format = "csv"
	FormatGPX    Format = "gpx"
)

// DetectFormat guesses a file's format from its name (.ndjson, .jsonl,
// .json, .csv, .gpx, each optionally .gz); NDJSON otherwise.
func DetectFormat(name string) Format {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	switch filepath.Ext(name) {
	case ".csv":
		return FormatCSV
	case ".gpx":
		return FormatGPX
	}
	return FormatNDJSON
}

// NewReader returns a reader of format over r, transparently gunzipping
// when gz is set.
func NewReader(r io.Reader, format Format, gz bool, opt Options) (Reader, error) {
	if gz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		r = zr
	}
	switch format {
	case FormatNDJSON:
		return NewNDJSON(r, opt), nil
	case FormatCSV:
		return NewCSV(r, opt)
	case FormatGPX:
		return NewGPX(r, opt, false), nil
	}
	return nil, fmt.Errorf("unknown feed format %q (want ndjson, csv or gpx)", format)
}

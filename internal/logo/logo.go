// Package logo checks uploaded organization logos: the bytes must decode as a PNG,
// JPEG, WebP or GIF image of bounded size and dimensions. SVG (which can carry
// scripts) and anything else are refused.
package logo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	_ "image/gif"  // registers GIF
	_ "image/jpeg" // registers JPEG
	_ "image/png"  // registers PNG
	"io"
	"net/http"

	_ "golang.org/x/image/webp" // registers WebP

	"github.com/orgql/orgql/internal/apperr"
)

// Limits of an accepted logo.
const (
	MaxBytes     = 1 << 20 // 1 MiB
	MaxDimension = 2048    // pixels, each side
	MinDimension = 16
)

// Reasons a logo is refused.
const (
	ReasonTooLarge      = "LOGO_TOO_LARGE"
	ReasonUnsupported   = "LOGO_UNSUPPORTED_TYPE"
	ReasonBadDimensions = "LOGO_BAD_DIMENSIONS"
	ReasonInvalid       = "LOGO_INVALID"
)

// contentTypes maps image.Decode's format names to the served Content-Type.
var contentTypes = map[string]string{
	"png":  "image/png",
	"jpeg": "image/jpeg",
	"gif":  "image/gif",
	"webp": "image/webp",
}

// Image is a checked logo.
type Image struct {
	Data          []byte
	ContentType   string
	Width, Height int
	// SHA256 is the hex digest of Data; logo URLs carry a prefix of it, so a new
	// logo gets a new URL and old URLs can be cached forever.
	SHA256 string
}

// Check reads an upload and returns it if it is an acceptable logo. field names the
// input field for errors.
func Check(field string, r io.Reader) (*Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading logo upload: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, apperr.Input(field, ReasonTooLarge, fmt.Sprintf("the logo must be at most %d KiB", MaxBytes>>10))
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, apperr.Input(field, ReasonUnsupported, "the logo must be a PNG, JPEG, WebP or GIF image")
	}
	ct, ok := contentTypes[format]
	if !ok {
		return nil, apperr.Input(field, ReasonUnsupported, "the logo must be a PNG, JPEG, WebP or GIF image")
	}
	if cfg.Width < MinDimension || cfg.Height < MinDimension || cfg.Width > MaxDimension || cfg.Height > MaxDimension {
		return nil, apperr.Input(field, ReasonBadDimensions,
			fmt.Sprintf("the logo must be between %d and %d pixels on each side", MinDimension, MaxDimension))
	}
	// Decoding the whole image proves the bytes are an image and not just a header;
	// the dimension check above bounds the memory this takes.
	if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
		return nil, apperr.Input(field, ReasonInvalid, "the logo file is damaged or not an image")
	}
	// The sniffed type must agree, so a browser never reads the bytes as something else.
	if sniffed := http.DetectContentType(data); sniffed != ct {
		return nil, apperr.Input(field, ReasonInvalid, "the logo file is damaged or not an image")
	}
	sum := sha256.Sum256(data)
	return &Image{Data: data, ContentType: ct, Width: cfg.Width, Height: cfg.Height, SHA256: hex.EncodeToString(sum[:])}, nil
}

package logo_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/image/webp"

	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/logo"
)

// --- image makers ---

// pattern is a w×h image with some detail, so encoders produce real data.
func pattern(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8((x + y) * 3), 255})
		}
	}
	return img
}

// noise is a w×h image of random pixels (compresses badly: large files).
func noise(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.UintN(256))
	}
	return img
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gifBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// webpBytes builds a lossless (VP8L) WebP of one colour by hand: the standard
// library has no WebP encoder. Every prefix code is a "simple" code with a single
// symbol, so the pixel data takes no bits at all.
func webpBytes(w, h int, c color.NRGBA) []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // VP8L signature
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	bw.write(0, 1) // alpha is not used
	bw.write(0, 3) // version 0
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no color cache
	bw.write(0, 1) // no meta prefix codes
	simple := func(sym uint8) {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // 8-bit symbol
		bw.write(uint32(sym), 8)
	}
	simple(c.G) // green (and length prefixes)
	simple(c.R)
	simple(c.B)
	simple(c.A)
	simple(0) // distance
	data := bw.bytes()

	var chunk bytes.Buffer
	chunk.WriteString("VP8L")
	_ = binary.Write(&chunk, binary.LittleEndian, uint32(len(data)))
	chunk.Write(data)
	if len(data)%2 == 1 {
		chunk.WriteByte(0)
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	_ = binary.Write(&out, binary.LittleEndian, uint32(4+chunk.Len()))
	out.WriteString("WEBP")
	out.Write(chunk.Bytes())
	return out.Bytes()
}

// bitWriter packs bits least-significant first, as VP8L reads them.
type bitWriter struct {
	buf   []byte
	acc   uint64
	nbits uint
}

func (b *bitWriter) write(v uint32, n uint) {
	b.acc |= uint64(v) << b.nbits
	b.nbits += n
	for b.nbits >= 8 {
		b.buf = append(b.buf, byte(b.acc))
		b.acc >>= 8
		b.nbits -= 8
	}
}

func (b *bitWriter) bytes() []byte {
	out := append([]byte(nil), b.buf...)
	if b.nbits > 0 {
		out = append(out, byte(b.acc))
	}
	return out
}

// pngOfSize returns a valid w×h PNG of exactly size bytes, padded with a tEXt chunk
// right after IHDR.
func pngOfSize(t testing.TB, w, h, size int) []byte {
	t.Helper()
	base := pngBytes(t, pattern(w, h))
	const ihdrEnd = 8 + 25 // signature + IHDR chunk
	pad := size - len(base) - 12
	if pad < len("Comment")+2 {
		t.Fatalf("a %dx%d PNG is %d bytes, too large to pad to %d", w, h, len(base), size)
	}
	payload := append([]byte("Comment\x00"), bytes.Repeat([]byte("x"), pad-len("Comment\x00"))...)
	var chunk bytes.Buffer
	_ = binary.Write(&chunk, binary.BigEndian, uint32(len(payload)))
	chunk.WriteString("tEXt")
	chunk.Write(payload)
	crc := crc32.NewIEEE()
	crc.Write([]byte("tEXt"))
	crc.Write(payload)
	_ = binary.Write(&chunk, binary.BigEndian, crc.Sum32())
	out := append(append(append([]byte(nil), base[:ihdrEnd]...), chunk.Bytes()...), base[ihdrEnd:]...)
	if len(out) != size {
		t.Fatalf("padded PNG is %d bytes, want %d", len(out), size)
	}
	return out
}

// pngHeaderOnly returns a PNG signature and IHDR claiming w×h, and nothing else.
func pngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	_ = binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.WriteString("IHDR")
	b.Write(ihdr)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	return b.Bytes()
}

// --- assertions ---

func wantOK(t *testing.T, name string, data []byte, contentType string, w, h int) *logo.Image {
	t.Helper()
	img, err := logo.Check("input.logo", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: Check refused a valid logo: %v", name, err)
	}
	sum := sha256.Sum256(data)
	switch {
	case img.ContentType != contentType:
		t.Errorf("%s: ContentType = %q, want %q", name, img.ContentType, contentType)
	case img.Width != w || img.Height != h:
		t.Errorf("%s: size %dx%d, want %dx%d", name, img.Width, img.Height, w, h)
	case !bytes.Equal(img.Data, data):
		t.Errorf("%s: Data differs from the upload (%d bytes, want %d)", name, len(img.Data), len(data))
	case img.SHA256 != hex.EncodeToString(sum[:]):
		t.Errorf("%s: SHA256 = %q, want %x", name, img.SHA256, sum)
	}
	return img
}

func wantRefused(t *testing.T, name string, data []byte, reason string) {
	t.Helper()
	img, err := logo.Check("input.logo", bytes.NewReader(data))
	if err == nil {
		t.Errorf("%s: Check accepted it (%s %dx%d), want %s", name, img.ContentType, img.Width, img.Height, reason)
		return
	}
	e, ok := apperr.As(err)
	if !ok {
		t.Errorf("%s: error %v is not a client error, want BAD_USER_INPUT/%s", name, err, reason)
		return
	}
	if e.Code != apperr.BadUserInput || e.Reason != reason || e.Field != "input.logo" {
		t.Errorf("%s: got %s/%s field %q, want BAD_USER_INPUT/%s field input.logo", name, e.Code, e.Reason, e.Field, reason)
	}
}

// --- tests ---

func TestLogoWebPFixtureDecodes(t *testing.T) {
	img, err := webp.Decode(bytes.NewReader(webpBytes(20, 30, color.NRGBA{R: 0x20, G: 0x80, B: 0xc0, A: 0xff})))
	if err != nil {
		t.Fatalf("the hand-made WebP does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 20 || b.Dy() != 30 {
		t.Fatalf("hand-made WebP is %v, want 20x30", b)
	}
	r, g, b, a := img.At(5, 5).RGBA()
	if r>>8 != 0x20 || g>>8 != 0x80 || b>>8 != 0xc0 || a>>8 != 0xff {
		t.Fatalf("hand-made WebP pixel = %x %x %x %x", r>>8, g>>8, b>>8, a>>8)
	}
}

func TestLogoCheckAcceptsEachFormat(t *testing.T) {
	img := pattern(64, 48)
	wantOK(t, "png", pngBytes(t, img), "image/png", 64, 48)
	wantOK(t, "jpeg", jpegBytes(t, img), "image/jpeg", 64, 48)
	wantOK(t, "gif", gifBytes(t, img), "image/gif", 64, 48)
	wantOK(t, "webp", webpBytes(64, 48, color.NRGBA{R: 10, G: 200, B: 30, A: 255}), "image/webp", 64, 48)
	// Paletted and grey images are images too.
	pal := image.NewPaletted(image.Rect(0, 0, 32, 32), color.Palette{color.Black, color.White})
	wantOK(t, "paletted png", pngBytes(t, pal), "image/png", 32, 32)
	wantOK(t, "gray png", pngBytes(t, image.NewGray(image.Rect(0, 0, 40, 20))), "image/png", 40, 20)
	wantOK(t, "gray jpeg", jpegBytes(t, image.NewGray(image.Rect(0, 0, 40, 20))), "image/jpeg", 40, 20)
}

func TestLogoCheckDimensions(t *testing.T) {
	if logo.MinDimension != 16 || logo.MaxDimension != 2048 {
		t.Fatalf("limits are %d..%d, the schema documents 16..2048 (a side)", logo.MinDimension, logo.MaxDimension)
	}
	ok := [][2]int{{16, 16}, {2048, 2048}, {16, 2048}, {2048, 16}, {17, 2047}}
	bad := [][2]int{{15, 16}, {16, 15}, {15, 15}, {2049, 16}, {16, 2049}, {2049, 2049}, {8, 8}, {3000, 10}, {1, 1}}
	enc := map[string]func(image.Image) []byte{
		"png":  func(i image.Image) []byte { return pngBytes(t, i) },
		"jpeg": func(i image.Image) []byte { return jpegBytes(t, i) },
		"gif":  func(i image.Image) []byte { return gifBytes(t, i) },
	}
	ct := map[string]string{"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif"}
	for _, format := range []string{"png", "jpeg", "gif"} {
		for _, d := range ok {
			img := blank(d[0], d[1])
			wantOK(t, format+" "+sizeName(d), enc[format](img), ct[format], d[0], d[1])
		}
		for _, d := range bad {
			img := blank(d[0], d[1])
			wantRefused(t, format+" "+sizeName(d), enc[format](img), logo.ReasonBadDimensions)
		}
	}
	c := color.NRGBA{R: 1, G: 2, B: 3, A: 255}
	for _, d := range ok {
		wantOK(t, "webp "+sizeName(d), webpBytes(d[0], d[1], c), "image/webp", d[0], d[1])
	}
	for _, d := range bad {
		wantRefused(t, "webp "+sizeName(d), webpBytes(d[0], d[1], c), logo.ReasonBadDimensions)
	}
	// A header that claims a huge image is refused from the header alone.
	wantRefused(t, "png header 100000x100000", pngHeaderOnly(100000, 100000), logo.ReasonBadDimensions)
	wantRefused(t, "png header 1x1", pngHeaderOnly(1, 1), logo.ReasonBadDimensions)
}

// blank is a paletted image: every encoder takes it without quantizing.
func blank(w, h int) *image.Paletted {
	return image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.White, color.Black})
}

func sizeName(d [2]int) string { return strconv.Itoa(d[0]) + "x" + strconv.Itoa(d[1]) }

func TestLogoCheckSizeLimit(t *testing.T) {
	if logo.MaxBytes != 1<<20 {
		t.Fatalf("MaxBytes = %d, the schema documents 1 MiB", logo.MaxBytes)
	}
	wantOK(t, "png of exactly 1 MiB", pngOfSize(t, 64, 64, logo.MaxBytes), "image/png", 64, 64)
	wantRefused(t, "png of 1 MiB + 1 byte", pngOfSize(t, 64, 64, logo.MaxBytes+1), logo.ReasonTooLarge)
	wantRefused(t, "png of 2 MiB", pngOfSize(t, 64, 64, 2<<20), logo.ReasonTooLarge)
	big := pngBytes(t, noise(700, 700, 1))
	if len(big) <= logo.MaxBytes {
		t.Fatalf("noise PNG is only %d bytes", len(big))
	}
	wantRefused(t, "noise png over 1 MiB", big, logo.ReasonTooLarge)
	// Garbage over the limit is refused for its size, without being decoded.
	wantRefused(t, "garbage over 1 MiB", bytes.Repeat([]byte("<svg>"), logo.MaxBytes), logo.ReasonTooLarge)

	// Check reads at most MaxBytes+1 bytes of an endless upload.
	r := &countingReader{}
	wantRefusedReader(t, "endless upload", r, logo.ReasonTooLarge)
	if r.n > logo.MaxBytes+1+64<<10 {
		t.Errorf("Check read %d bytes of an endless upload, want about %d", r.n, logo.MaxBytes+1)
	}
}

type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0x89
	}
	c.n += len(p)
	return len(p), nil
}

func wantRefusedReader(t *testing.T, name string, r io.Reader, reason string) {
	t.Helper()
	_, err := logo.Check("input.logo", r)
	if !apperr.Is(err, apperr.BadUserInput, reason) {
		t.Errorf("%s: got %v, want BAD_USER_INPUT/%s", name, err, reason)
	}
}

func TestLogoCheckRefusesNonImages(t *testing.T) {
	svg := []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><script>alert(1)</script><rect width="64" height="64"/></svg>`)
	wantRefused(t, "svg", svg, logo.ReasonUnsupported)
	wantRefused(t, "bare svg", []byte(`<svg width="64" height="64"></svg>`), logo.ReasonUnsupported)
	wantRefused(t, "html", []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"), logo.ReasonUnsupported)
	wantRefused(t, "text", []byte("this is not an image, whatever its file name says\n"), logo.ReasonUnsupported)
	wantRefused(t, "empty", nil, logo.ReasonUnsupported)
	wantRefused(t, "pdf", []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"), logo.ReasonUnsupported)
	wantRefused(t, "png signature only", []byte("\x89PNG\r\n\x1a\n"), logo.ReasonUnsupported)
	// BMP and TIFF decoders are not registered: not accepted formats.
	wantRefused(t, "bmp header", append([]byte("BM"), make([]byte, 60)...), logo.ReasonUnsupported)
	wantRefused(t, "random bytes", pngBytes(t, noise(4, 4, 2))[16:], logo.ReasonUnsupported)
}

func TestLogoCheckRefusesDamagedImages(t *testing.T) {
	img := noise(64, 64, 3)
	for name, data := range map[string][]byte{
		"png":  pngBytes(t, img),
		"jpeg": jpegBytes(t, img),
		"gif":  gifBytes(t, img),
	} {
		// The header (and so the dimensions) is intact; the pixel data is cut.
		wantRefused(t, "truncated "+name, data[:len(data)/2], logo.ReasonInvalid)
	}
	// A PNG whose header is fine but which has no image data at all.
	wantRefused(t, "png header without data", pngHeaderOnly(64, 64), logo.ReasonInvalid)
	// A PNG with its pixel data corrupted (CRC mismatch).
	p := pngBytes(t, img)
	p[len(p)/2] ^= 0xff
	wantRefused(t, "corrupted png", p, logo.ReasonInvalid)
}

func TestLogoCheckReadError(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := logo.Check("input.logo", io.MultiReader(bytes.NewReader(pngBytes(t, pattern(32, 32))[:20]), errReader{boom}))
	if err == nil {
		t.Fatal("Check accepted an upload that failed to read")
	}
	if !errors.Is(err, boom) {
		t.Errorf("Check error %v does not wrap the read error", err)
	}
	if _, ok := apperr.As(err); ok {
		t.Errorf("a read failure is reported as a client error: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestLogoSHA256Stable(t *testing.T) {
	data := pngBytes(t, pattern(32, 32))
	a := wantOK(t, "first", data, "image/png", 32, 32)
	b := wantOK(t, "again", bytes.Clone(data), "image/png", 32, 32)
	if a.SHA256 != b.SHA256 {
		t.Fatalf("SHA256 of the same bytes differs: %s, %s", a.SHA256, b.SHA256)
	}
	if len(a.SHA256) != 64 || strings.ToLower(a.SHA256) != a.SHA256 {
		t.Fatalf("SHA256 = %q, want 64 lower-case hex digits", a.SHA256)
	}
	other := pngBytes(t, pattern(32, 33))
	c := wantOK(t, "other", other, "image/png", 32, 33)
	if c.SHA256 == a.SHA256 {
		t.Fatal("different logos have the same SHA256")
	}
	// Same pixels, different encoding: a different file, a different digest.
	d := wantOK(t, "jpeg", jpegBytes(t, pattern(32, 32)), "image/jpeg", 32, 32)
	if d.SHA256 == a.SHA256 {
		t.Fatal("a JPEG and a PNG have the same SHA256")
	}
}

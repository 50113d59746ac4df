package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
)

// readMJPEG reads a multipart/x-mixed-replace stream until ctx ends and
// calls onPart with each part's body (only when keep is true; nil
// otherwise) once the part has fully arrived. Parts are delimited by the
// boundary, so streams without Content-Length (the classic Flask pattern)
// work too.
func readMJPEG(ctx context.Context, client *http.Client, u string, keep bool, onPart func(b []byte, at int64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return ignoreCanceled(ctx, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	_, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return fmt.Errorf("GET %s: not multipart (%q)", u, res.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(res.Body, params["boundary"])
	var buf bytes.Buffer
	for {
		p, err := mr.NextPart()
		if err != nil {
			return ignoreCanceled(ctx, fmt.Errorf("mjpeg: %w", err))
		}
		buf.Reset()
		if keep {
			_, err = buf.ReadFrom(p)
		} else {
			_, err = io.Copy(io.Discard, p)
		}
		if err != nil {
			return ignoreCanceled(ctx, fmt.Errorf("mjpeg: %w", err))
		}
		var b []byte
		if keep {
			b = bytes.Clone(buf.Bytes())
		}
		onPart(b, now())
	}
}

// The latency clip carries its frame number (mod 1024) as codeBits white
// or black squares on a black strip along the top-left; two more squares,
// always white and always black, check the reading. Coordinates are for
// 1280x720 and scale with the picture. The ffmpeg filter that draws them
// is codeFilter.
const (
	codeBits   = 10
	codeX0     = 40
	codeY0     = 40
	codeStep   = 80
	codeSquare = 60
)

// codeFilter is the ffmpeg drawbox chain that burns the code into the
// clip (frame n of the clip carries n).
func codeFilter() string {
	f := fmt.Sprintf("drawbox=x=%d:y=%d:w=%d:h=%d:color=black:t=fill",
		codeX0-20, codeY0-20, codeStep*(codeBits+2)+20, codeSquare+40)
	for k := 0; k <= codeBits; k++ {
		enable := fmt.Sprintf(":enable='mod(floor(n/%d),2)'", 1<<k)
		if k == codeBits {
			enable = "" // the always-white reference square
		}
		f += fmt.Sprintf(",drawbox=x=%d:y=%d:w=%d:h=%d:color=white:t=fill%s",
			codeX0+k*codeStep, codeY0, codeSquare, codeSquare, enable)
	}
	return f
}

// readCode decodes a JPEG and reads its frame code; ok is false when the
// picture does not carry a readable one.
func readCode(b []byte) (int, bool) {
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return 0, false
	}
	yc, isYC := img.(*image.YCbCr)
	gray, isGray := img.(*image.Gray)
	if !isYC && !isGray {
		return 0, false
	}
	bounds := img.Bounds()
	luma := func(x, y int) int { // (x, y) in 1280x720 coordinates
		px := bounds.Min.X + x*bounds.Dx()/1280
		py := bounds.Min.Y + y*bounds.Dy()/720
		if isYC {
			return int(yc.Y[yc.YOffset(px, py)])
		}
		return int(gray.Pix[gray.PixOffset(px, py)])
	}
	center := func(k int) int { return luma(codeX0+k*codeStep+codeSquare/2, codeY0+codeSquare/2) }
	white, black := center(codeBits), center(codeBits+1)
	if white-black < 100 {
		return 0, false
	}
	mid := (white + black) / 2
	code := 0
	for k := range codeBits {
		if center(k) > mid {
			code |= 1 << k
		}
	}
	return code, true
}

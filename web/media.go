package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/mjpeg"
)

// Pictures gives the media routes a source's JPEG hub.
type Pictures interface {
	JPEG(name string) (*mjpeg.Hub, bool)
}

const (
	mjpegBoundary = "visiongateframe"
	// writeTimeout closes a viewer that stops reading: its TCP buffer fills
	// and the next write cannot finish in time.
	writeTimeout = 5 * time.Second
	// snapshotWait bounds the wait for a fresh picture (source starting or
	// reconnecting, or relayed without decoding).
	snapshotWait = 3 * time.Second
	maxJPEGWidth = 8192
)

type mediaRoutes struct {
	pics       Pictures
	maxViewers int // per source; 0 is unlimited
}

func (m *mediaRoutes) mount(r *gin.Engine) {
	r.GET("/mjpeg/:name", m.mjpeg)
	r.GET("/snapshot/:file", m.snapshot)
}

// viewerOptions parses ?width= and ?fps=.
func viewerOptions(c *gin.Context) (width int, interval time.Duration, err error) {
	if v := c.Query("width"); v != "" {
		if width, err = strconv.Atoi(v); err != nil || width < 16 || width > maxJPEGWidth {
			return 0, 0, fmt.Errorf("width must be a number between 16 and %d", maxJPEGWidth)
		}
	}
	if v := c.Query("fps"); v != "" {
		fps, err := strconv.ParseFloat(v, 64)
		if err != nil || fps <= 0 || fps > 120 {
			return 0, 0, errors.New("fps must be a number between 0 and 120")
		}
		interval = time.Duration(float64(time.Second) / fps)
	}
	return width, interval, nil
}

func (m *mediaRoutes) hubFor(c *gin.Context, name string) (*mjpeg.Hub, bool) {
	if !config.ValidName(name) {
		writeError(c, http.StatusNotFound, "no source "+strconv.Quote(name))
		return nil, false
	}
	h, ok := m.pics.JPEG(name)
	if !ok {
		writeError(c, http.StatusNotFound, "no source "+strconv.Quote(name))
	}
	return h, ok
}

// mjpeg streams multipart/x-mixed-replace JPEGs. Each viewer waits for the
// newest picture, so a slow one skips pictures instead of queueing them.
func (m *mediaRoutes) mjpeg(c *gin.Context) {
	width, interval, err := viewerOptions(c)
	if err != nil {
		writeError(c, http.StatusBadRequest, err.Error())
		return
	}
	h, ok := m.hubFor(c, c.Param("name"))
	if !ok {
		return
	}
	v, ok := h.TrySubscribe(width, m.maxViewers)
	if !ok {
		writeError(c, http.StatusServiceUnavailable, "too many viewers of this source")
		return
	}
	defer v.Close()
	w := c.Writer
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+mjpegBoundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ctx := c.Request.Context()
	var next time.Time
	for {
		p, err := v.Next(ctx)
		if err != nil {
			return // client gone or source removed
		}
		if interval > 0 {
			if time.Now().Before(next) {
				continue
			}
			next = time.Now().Add(interval)
		}
		if err := writePart(w, rc, p); err != nil {
			return
		}
	}
}

func writePart(w gin.ResponseWriter, rc *http.ResponseController, p *mjpeg.Picture) error {
	_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n",
		mjpegBoundary, len(p.JPEG)); err != nil {
		return err
	}
	if _, err := w.Write(p.JPEG); err != nil {
		return err
	}
	if _, err := w.Write([]byte("\r\n")); err != nil {
		return err
	}
	return rc.Flush()
}

// snapshot answers /snapshot/NAME.jpg with the newest annotated frame.
func (m *mediaRoutes) snapshot(c *gin.Context) {
	name, ok := strings.CutSuffix(c.Param("file"), ".jpg")
	if !ok {
		writeError(c, http.StatusNotFound, "snapshots are /snapshot/NAME.jpg")
		return
	}
	width, _, err := viewerOptions(c)
	if err != nil {
		writeError(c, http.StatusBadRequest, err.Error())
		return
	}
	h, found := m.hubFor(c, name)
	if !found {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), snapshotWait)
	defer cancel()
	p, err := h.Snapshot(ctx, width, time.Second)
	if err != nil {
		writeError(c, http.StatusServiceUnavailable, "no picture from source "+strconv.Quote(name)+
			" yet (starting, reconnecting, or relayed without decoding)")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "image/jpeg", p.JPEG)
}

package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/visiongate/visiongate/gateway/api"
	"github.com/visiongate/visiongate/media"
)

// Detections gives the API a source's detection results.
type Detections interface {
	// Detections returns the latest result (ok false before the first);
	// errors: api.ErrNotFound, api.ErrNoVision.
	Detections(name string) (d media.Detections, ok bool, err error)
	// Events subscribes to results; cancel ends the subscription.
	Events(name string, buf int) (<-chan media.Detections, func(), error)
}

const (
	eventBuffer = 16 // results a slow SSE client may lag before losing some
	keepAlive   = 15 * time.Second
)

type detections struct{ src Detections }

func (d *detections) mount(g *gin.RouterGroup) {
	g.GET("/sources/:name/detections", d.latest)
	g.GET("/sources/:name/events", d.events)
}

func (d *detections) fail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, api.ErrNotFound), errors.Is(err, api.ErrNoVision):
		writeError(c, http.StatusNotFound, err.Error())
	default:
		writeError(c, http.StatusInternalServerError, "internal error")
	}
}

// latest answers the newest result; before the first one, an empty result
// for the source (so pollers need no special case).
func (d *detections) latest(c *gin.Context) {
	name, ok := pathName(c)
	if !ok {
		return
	}
	det, found, err := d.src.Detections(name)
	if err != nil {
		d.fail(c, err)
		return
	}
	if !found {
		det = media.Detections{Source: name, Boxes: []media.Box{}}
	}
	c.JSON(http.StatusOK, det)
}

// events streams every result as a Server-Sent Event. A client that
// cannot keep up loses results (the subscription's buffer is bounded) and
// one that stops reading is cut off by the write deadline.
func (d *detections) events(c *gin.Context) {
	name, ok := pathName(c)
	if !ok {
		return
	}
	ch, cancel, err := d.src.Events(name, eventBuffer)
	if err != nil {
		d.fail(c, err)
		return
	}
	defer cancel()
	w := c.Writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	_ = sseWrite(w, rc, ": connected\n\n")
	for {
		select {
		case <-c.Request.Context().Done():
			return
		case <-tick.C:
			if sseWrite(w, rc, ": keep-alive\n\n") != nil {
				return
			}
		case det, open := <-ch:
			if !open {
				return // source removed or detector turned off
			}
			if writeResult(w, rc, det) != nil {
				return
			}
		}
	}
}

// writeResult sends a result as a "detections" event (boxes with track
// ids, counts), then each of its object, zone and line events under its
// own type: new, update, end, enter, exit, cross.
func writeResult(w gin.ResponseWriter, rc *http.ResponseController, det media.Detections) error {
	var sb strings.Builder
	b, _ := json.Marshal(det)
	fmt.Fprintf(&sb, "event: detections\ndata: %s\n\n", b)
	for _, ev := range det.Events {
		b, _ := json.Marshal(ev)
		fmt.Fprintf(&sb, "event: %s\ndata: %s\n\n", ev.Type, b)
	}
	return sseWrite(w, rc, sb.String())
}

func sseWrite(w gin.ResponseWriter, rc *http.ResponseController, s string) error {
	_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := w.Write([]byte(s)); err != nil {
		return err
	}
	return rc.Flush()
}

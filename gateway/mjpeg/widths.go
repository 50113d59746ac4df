package mjpeg

import "slices"

// standardWidths are the picture widths viewers get besides the source's
// own and its halves, thirds and quarters. Every requested width snaps to
// one of these, so viewers asking for 1000 different widths share a
// handful of encoders instead of one each.
var standardWidths = []int{160, 320, 480, 640, 960, 1280, 1920, 2560, 3840}

// SetSourceWidth tells the hub the source's picture width, which decides
// the widths requests snap to. The pipeline calls it as it encodes.
func (h *Hub) SetSourceWidth(w int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.srcW = w
}

// Snap returns the width a request for width is served at: 0 (the source
// size) for 0 or anything at or above the source width, else the smallest
// offered width at least as wide as asked.
func (h *Hub) Snap(width int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapLocked(width)
}

func (h *Hub) snapLocked(width int) int {
	if width <= 0 || (h.srcW > 0 && width >= h.srcW) {
		return 0
	}
	for _, w := range offeredWidths(h.srcW) {
		if w >= width {
			return w
		}
	}
	return 0
}

// offeredWidths lists the widths below the source's, ascending (all the
// standard ones while the source width is not known yet).
func offeredWidths(srcW int) []int {
	var ws []int
	for _, w := range standardWidths {
		if srcW == 0 || w < srcW {
			ws = append(ws, w)
		}
	}
	if srcW > 0 {
		for _, d := range []int{2, 3, 4} {
			if w := srcW / d &^ 1; w >= 16 && !slices.Contains(ws, w) {
				ws = append(ws, w)
			}
		}
	}
	slices.Sort(ws)
	return ws
}

package manager

import (
	"fmt"
	"reflect"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/pipeline"
	"github.com/visiongate/visiongate/media"
)

// Stage is a source's vision stage as the manager drives it. It outlives
// pipeline restarts, so detections and subscribers survive a PATCH.
type Stage interface {
	pipeline.FrameStage
	// Update changes detector settings in place; errors are
	// *config.ValidationError.
	Update(v config.Vision) error
	Close()
	Latest() (media.Detections, bool)
	Subscribe(buf int) (<-chan media.Detections, func())
	Status() VisionStatus
}

// StageFactory makes the stage of a source; errors are
// *config.ValidationError naming the vision field.
type StageFactory func(name string, v config.Vision) (Stage, error)

// makeStage builds the stage for a source that runs a detector.
func (m *Manager) makeStage(src config.Source) (Stage, error) {
	if !src.VisionOn() || m.opts.Vision == nil {
		return nil, nil
	}
	return m.opts.Vision(src.Name, *src.Vision)
}

// nextStage reuses, updates, makes or drops the stage for a changed source.
func (m *Manager) nextStage(cur Stage, src config.Source) (Stage, error) {
	switch {
	case !src.VisionOn() || m.opts.Vision == nil:
		return nil, nil
	case cur != nil:
		return cur, cur.Update(*src.Vision)
	}
	return m.makeStage(src)
}

// onlyVisionChanged tells whether a change can be applied to the stage
// alone, without restarting the pipeline.
func onlyVisionChanged(old, next config.Source) bool {
	if !old.VisionOn() || !next.VisionOn() {
		return false
	}
	old.Vision, next.Vision = nil, nil
	return reflect.DeepEqual(old, next)
}

// Detections returns the latest detection result of a source.
func (m *Manager) Detections(name string) (media.Detections, bool, error) {
	e, err := m.visionEntry(name)
	if err != nil {
		return media.Detections{}, false, err
	}
	d, ok := e.stage.Latest()
	return d, ok, nil
}

// Events subscribes to a source's detection results; cancel ends it.
func (m *Manager) Events(name string, buf int) (<-chan media.Detections, func(), error) {
	e, err := m.visionEntry(name)
	if err != nil {
		return nil, nil, err
	}
	ch, cancel := e.stage.Subscribe(buf)
	return ch, cancel, nil
}

func (m *Manager) visionEntry(name string) (*entry, error) {
	e, ok := m.lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if e.stage == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoVision, name)
	}
	return e, nil
}

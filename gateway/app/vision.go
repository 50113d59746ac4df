package app

import (
	"errors"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/vision"
)

// visionStage adapts a vision.Stage to the manager's Stage.
type visionStage struct{ *vision.Stage }

// stageFactory makes vision stages on one shared worker pool.
func stageFactory(pool *vision.Pool) manager.StageFactory {
	return func(name string, v config.Vision) (manager.Stage, error) {
		s, err := pool.NewStage(name, visionConfig(v))
		if err != nil {
			return nil, asValidation(err)
		}
		return visionStage{s}, nil
	}
}

func (s visionStage) Update(v config.Vision) error {
	return asValidation(s.Stage.Update(visionConfig(v)))
}

func (s visionStage) Close() { _ = s.Stage.Close() }

func (s visionStage) Status() manager.VisionStatus {
	st := s.Stats()
	return manager.VisionStatus{
		Detector: st.Detector, DetectionsPerSec: st.DetectionsPerSec,
		LatencyMS: ms(st.AvgLatency.Seconds()), BoxAgeMS: ms(st.BoxAge.Seconds()),
		BoxAgeFrames: st.BoxAgeFrames, Boxes: st.Boxes, Sampled: st.Sampled,
		SkippedBusy: st.SkippedBusy, Errors: st.Errors, LastError: st.LastError,
		EventsDropped: st.EventsDropped,
	}
}

func ms(seconds float64) float64 { return seconds * 1000 }

// visionConfig maps the API's schema onto the vision package's settings.
func visionConfig(v config.Vision) vision.Config {
	return vision.Config{
		Detector: v.Detector, FPS: v.FPS, Width: v.Width, MinScore: v.MinScore, Hold: v.Hold.D,
		Overlay: v.Overlay, Cascade: v.Cascade, MinArea: v.MinArea, Model: v.Model,
		ModelConfig: v.ModelConfig, Classes: v.Classes, Format: v.Format, InputSize: v.InputSize,
		Scale: v.Scale, Mean: v.Mean, KeepBGR: v.KeepBGR, Confidence: v.Confidence, NMS: v.NMS,
		ClassFilter: v.ClassFilter, Backend: v.Backend, Target: v.Target,
	}
}

// asValidation turns vision's config errors into API validation errors.
func asValidation(err error) error {
	var ce *vision.ConfigError
	if errors.As(err, &ce) {
		return &config.ValidationError{Field: "vision." + ce.Field, Reason: ce.Reason}
	}
	return err
}

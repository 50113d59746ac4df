package app

import (
	"errors"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/vision"
	"github.com/visiongate/visiongate/vision/analytics"
)

// stageFactory makes vision stages on one shared worker pool; file fields
// resolve in the config's models directory.
func stageFactory(pool *vision.Pool, cfg *config.Config) manager.StageFactory {
	return func(name string, v config.Vision) (manager.Stage, error) {
		s, err := pool.NewStage(name, visionConfig(v, cfg.ModelFile))
		if err != nil {
			return nil, asValidation(err)
		}
		return visionStage{s, cfg.ModelFile}, nil
	}
}

// visionStage adapts a vision.Stage to the manager's Stage.
type visionStage struct {
	*vision.Stage
	file func(string) string
}

func (s visionStage) Update(v config.Vision) error {
	return asValidation(s.Stage.Update(visionConfig(v, s.file)))
}

func (s visionStage) Close() { _ = s.Stage.Close() }

func (s visionStage) Status() manager.VisionStatus {
	st := s.Stats()
	return manager.VisionStatus{
		Detector: st.Detector, DetectionsPerSec: st.DetectionsPerSec,
		LatencyMS: ms(st.AvgLatency.Seconds()), BoxAgeMS: ms(st.BoxAge.Seconds()),
		BoxAgeFrames: st.BoxAgeFrames, Boxes: st.Boxes, Sampled: st.Sampled,
		SkippedBusy: st.SkippedBusy, Errors: st.Errors, LastError: st.LastError,
		EventsDropped: st.EventsDropped, Runtime: st.Runtime.Runtime, Provider: st.Runtime.Provider,
		ProviderReason: st.Runtime.Reason, Counts: st.Counts,
	}
}

func ms(seconds float64) float64 { return seconds * 1000 }

// visionConfig maps the API's schema onto the vision package's settings;
// file turns file fields into paths.
func visionConfig(v config.Vision, file func(string) string) vision.Config {
	return vision.Config{
		Detector: v.Detector, FPS: v.FPS, Width: v.Width, MinScore: v.MinScore, Hold: v.Hold.D,
		Overlay: v.Overlay, Cascade: file(v.Cascade), MinArea: v.MinArea, Model: file(v.Model),
		ModelConfig: file(v.ModelConfig), Classes: file(v.Classes), Format: v.Format, InputSize: v.InputSize,
		Scale: v.Scale, Mean: v.Mean, KeepBGR: v.KeepBGR, Confidence: v.Confidence, NMS: v.NMS,
		ClassFilter: v.ClassFilter, Backend: v.Backend, Target: v.Target,
		Runtime: v.Runtime, Providers: v.Providers, Threads: v.Threads, Resize: v.Resize,
		Tracker: trackerConfig(v), Analytics: analyticsConfig(v),
	}
}

func trackerConfig(v config.Vision) vision.TrackerConfig {
	tc := vision.TrackerConfig{Enabled: v.TrackerOn()}
	if t := v.Tracker; t != nil {
		tc.MaxAge, tc.MinHits, tc.IoU, tc.High = t.MaxAge.D, t.MinHits, t.IoU, t.HighScore
	}
	return tc
}

func analyticsConfig(v config.Vision) analytics.Config {
	c := analytics.Config{UpdateEvery: v.UpdateInterval.D}
	for _, z := range v.Zones {
		c.Zones = append(c.Zones, analytics.Zone{Name: z.Name, Polygon: z.Polygon, Labels: z.Labels, MinFrames: z.MinFrames})
	}
	for _, l := range v.Lines {
		c.Lines = append(c.Lines, analytics.Line{Name: l.Name, From: l.From, To: l.To, Labels: l.Labels})
	}
	return c
}

// asValidation turns vision's config errors into API validation errors.
func asValidation(err error) error {
	var ce *vision.ConfigError
	if errors.As(err, &ce) {
		return &config.ValidationError{Field: "vision." + ce.Field, Reason: ce.Reason}
	}
	return err
}

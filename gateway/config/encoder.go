package config

// Encoder settings for the one H.264 encode per source. Zero values mean
// "inherit" (from the global encoder section, then the built-in defaults).
type Encoder struct {
	// Codec: libx264 (default), auto (first hardware encoder that opens,
	// else libx264), h264_nvenc, h264_vaapi or h264_qsv.
	Codec  string `yaml:"codec,omitempty" json:"codec,omitempty"`
	Preset string `yaml:"preset,omitempty" json:"preset,omitempty"`
	Tune   string `yaml:"tune,omitempty" json:"tune,omitempty"`
	// Bitrate in kbit/s; when 0, CRF rate control is used.
	Bitrate int `yaml:"bitrate,omitempty" json:"bitrate,omitempty"`
	CRF     int `yaml:"crf,omitempty" json:"crf,omitempty"`
	// Keyint is the keyframe interval.
	Keyint Duration `yaml:"keyint,omitempty" json:"keyint,omitzero"`
	// Optional output size and frame rate; 0 keeps the input's. Setting
	// only one of width/height keeps the aspect ratio.
	Width  int     `yaml:"width,omitempty" json:"width,omitempty"`
	Height int     `yaml:"height,omitempty" json:"height,omitempty"`
	FPS    float64 `yaml:"fps,omitempty" json:"fps,omitempty"`
}

// Encoder codec names.
const (
	EncoderAuto    = "auto"
	EncoderX264    = "libx264"
	EncoderNVENC   = "h264_nvenc"
	EncoderVAAPI   = "h264_vaapi"
	EncoderQSV     = "h264_qsv"
	defaultPreset  = "veryfast"
	defaultTune    = "zerolatency"
	defaultCRF     = 23
	maxDimension   = 4096
	maxEncoderFPS  = 120
	defaultKeyintS = 1
)

var encoderCodecs = []string{EncoderAuto, EncoderX264, EncoderNVENC, EncoderVAAPI, EncoderQSV}

var x264Presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}

var x264Tunes = []string{"zerolatency", "film", "animation", "grain", "stillimage", "fastdecode", "none"}

func (e *Encoder) fillDefaults() {
	*e = e.Merge(Encoder{
		Codec:  EncoderX264,
		Preset: defaultPreset,
		Tune:   defaultTune,
		CRF:    defaultCRF,
		Keyint: Duration{D: defaultKeyintS * 1e9},
	})
}

// Merge returns e with each zero field taken from def.
func (e Encoder) Merge(def Encoder) Encoder {
	if e.Codec == "" {
		e.Codec = def.Codec
	}
	if e.Preset == "" {
		e.Preset = def.Preset
	}
	if e.Tune == "" {
		e.Tune = def.Tune
	}
	if e.Bitrate == 0 && e.CRF == 0 {
		e.Bitrate, e.CRF = def.Bitrate, def.CRF
	}
	if e.Keyint.D == 0 {
		e.Keyint = def.Keyint
	}
	if e.Width == 0 && e.Height == 0 {
		e.Width, e.Height = def.Width, def.Height
	}
	if e.FPS == 0 {
		e.FPS = def.FPS
	}
	return e
}

func (e *Encoder) validate(prefix string) error {
	switch {
	case e.Codec != "" && !oneOf(e.Codec, encoderCodecs):
		return fieldErr(prefix+".codec", "must be one of %v", encoderCodecs)
	case e.Preset != "" && !oneOf(e.Preset, x264Presets):
		return fieldErr(prefix+".preset", "must be one of %v", x264Presets)
	case e.Tune != "" && !oneOf(e.Tune, x264Tunes):
		return fieldErr(prefix+".tune", "must be one of %v", x264Tunes)
	case e.Bitrate < 0 || e.Bitrate > 100000:
		return fieldErr(prefix+".bitrate", "must be between 0 and 100000 kbit/s")
	case e.CRF < 0 || e.CRF > 51:
		return fieldErr(prefix+".crf", "must be between 0 and 51")
	case e.Keyint.D != 0 && (e.Keyint.D < 100e6 || e.Keyint.D > 60e9):
		return fieldErr(prefix+".keyint", "must be between 100ms and 60s")
	case e.Width < 0 || e.Width > maxDimension || e.Width%2 != 0:
		return fieldErr(prefix+".width", "must be an even number up to %d", maxDimension)
	case e.Height < 0 || e.Height > maxDimension || e.Height%2 != 0:
		return fieldErr(prefix+".height", "must be an even number up to %d", maxDimension)
	case !(e.FPS >= 0 && e.FPS <= maxEncoderFPS): // also refuses NaN
		return fieldErr(prefix+".fps", "must be above 0 and at most %d (0 keeps the input's)", maxEncoderFPS)
	}
	return nil
}

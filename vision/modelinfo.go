package vision

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// modelIO is what visiongate needs to know of a model before loading it.
type modelIO struct {
	input, output string
	w, h          int // fixed input size; 0 when dynamic
}

// inspectModel reads the first input and output.
func inspectModel(path string) (modelIO, error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return modelIO{}, err
	}
	if len(ins) == 0 || len(outs) == 0 {
		return modelIO{}, fmt.Errorf("model has %d inputs and %d outputs", len(ins), len(outs))
	}
	in := ins[0]
	if len(in.Dimensions) != 4 || in.DataType != ort.TensorElementDataTypeFloat {
		return modelIO{}, fmt.Errorf("input %q is %v %v, want a float [1,3,H,W] image", in.Name, in.DataType, in.Dimensions)
	}
	if c := in.Dimensions[1]; c != 3 && c > 0 {
		return modelIO{}, fmt.Errorf("input %q has %d channels, want 3", in.Name, c)
	}
	io := modelIO{input: in.Name, output: outs[0].Name,
		h: int(max(in.Dimensions[2], 0)), w: int(max(in.Dimensions[3], 0))}
	if outs[0].DataType != ort.TensorElementDataTypeFloat {
		return modelIO{}, fmt.Errorf("output %q is %v, want float", io.output, outs[0].DataType)
	}
	return io, nil
}

// modelMeta is what exporters write into the metadata (Ultralytics: names,
// end2end); it is optional.
type modelMeta struct {
	names   []string
	end2end bool
}

func readMeta(s *ort.DynamicAdvancedSession) modelMeta {
	var m modelMeta
	meta, err := s.GetModelMetadata()
	if err != nil {
		return m
	}
	defer meta.Destroy()
	if v, ok, _ := meta.LookupCustomMetadataMap("names"); ok {
		m.names = ParseNamesMetadata(v)
	}
	if v, ok, _ := meta.LookupCustomMetadataMap("end2end"); ok {
		m.end2end = strings.EqualFold(strings.TrimSpace(v), "true")
	}
	return m
}

var namesEntry = regexp.MustCompile(`(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")`)

// maxClasses bounds the class ids a names map may declare.
const maxClasses = 100000

// ParseNamesMetadata reads Ultralytics' names metadata, a Python dict
// such as "{0: 'person', 1: 'bicycle'}", into a slice indexed by class.
func ParseNamesMetadata(s string) []string {
	var names []string
	for _, m := range namesEntry.FindAllStringSubmatch(s, -1) {
		id, err := strconv.Atoi(m[1])
		if err != nil || id >= maxClasses {
			continue
		}
		for len(names) <= id {
			names = append(names, "")
		}
		names[id] = m[2] + m[3]
	}
	return names
}

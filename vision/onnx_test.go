package vision

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// constModelONNX encodes, by hand, an ONNX model that maps any image
// [1,3,H,W] to the fixed tensor out of shape shape:
//
//	GlobalAveragePool → Flatten → Gemm (zero weights, bias = out) → Reshape
//
// so the network really runs in OpenCV, and its output is known.
func constModelONNX(shape []int64, out []float32) []byte {
	m := int64(len(out))
	var g []byte
	g = appendNode(g, "GlobalAveragePool", []string{"images"}, "pooled", nil)
	g = appendNode(g, "Flatten", []string{"pooled"}, "flat", map[string]int64{"axis": 1})
	g = appendNode(g, "Gemm", []string{"flat", "W", "B"}, "fc", map[string]int64{"transB": 1})
	g = appendNode(g, "Reshape", []string{"fc", "shape"}, "output", nil)
	g = protowire.AppendTag(g, 2, protowire.BytesType)
	g = protowire.AppendString(g, "const")
	g = appendMsg(g, 5, floatTensor("W", []int64{m, 3}, make([]float32, m*3)))
	g = appendMsg(g, 5, floatTensor("B", []int64{m}, out))
	g = appendMsg(g, 5, int64Tensor("shape", shape))
	g = appendMsg(g, 11, valueInfo("images", []int64{1, 3, -1, -1}))
	g = appendMsg(g, 12, valueInfo("output", shape))

	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType) // ir_version
	b = protowire.AppendVarint(b, 7)
	b = protowire.AppendTag(b, 2, protowire.BytesType) // producer_name
	b = protowire.AppendString(b, "visiongate-test")
	b = appendMsg(b, 7, g)
	var op []byte
	op = protowire.AppendTag(op, 2, protowire.VarintType) // opset version
	op = protowire.AppendVarint(op, 11)
	return appendMsg(b, 8, op)
}

func appendMsg(b []byte, field protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendStr(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendNode adds a NodeProto (graph field 1) with INT attributes.
func appendNode(g []byte, op string, in []string, out string, attrs map[string]int64) []byte {
	var n []byte
	for _, i := range in {
		n = appendStr(n, 1, i)
	}
	n = appendStr(n, 2, out)
	n = appendStr(n, 3, out+"_node")
	n = appendStr(n, 4, op)
	for name, v := range attrs {
		var a []byte
		a = appendStr(a, 1, name)
		a = protowire.AppendTag(a, 3, protowire.VarintType) // i
		a = protowire.AppendVarint(a, uint64(v))
		a = protowire.AppendTag(a, 20, protowire.VarintType) // type = INT
		a = protowire.AppendVarint(a, 2)
		n = appendMsg(n, 5, a)
	}
	return appendMsg(g, 1, n)
}

// tensorProto encodes a TensorProto with raw little-endian data.
func tensorProto(name string, dims []int64, dataType uint64, raw []byte) []byte {
	var t []byte
	for _, d := range dims {
		t = protowire.AppendTag(t, 1, protowire.VarintType)
		t = protowire.AppendVarint(t, uint64(d))
	}
	t = protowire.AppendTag(t, 2, protowire.VarintType)
	t = protowire.AppendVarint(t, dataType)
	t = appendStr(t, 8, name)
	t = protowire.AppendTag(t, 9, protowire.BytesType)
	return protowire.AppendBytes(t, raw)
}

func floatTensor(name string, dims []int64, v []float32) []byte {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return tensorProto(name, dims, 1, raw) // FLOAT
}

func int64Tensor(name string, v []int64) []byte {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return tensorProto(name, []int64{int64(len(v))}, 7, raw) // INT64
}

// valueInfo encodes a float tensor ValueInfoProto; negative dims are
// symbolic.
func valueInfo(name string, dims []int64) []byte {
	var shape []byte
	for i, d := range dims {
		var dim []byte
		if d < 0 {
			dim = appendStr(dim, 2, "d"+string(rune('0'+i)))
		} else {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d))
		}
		shape = appendMsg(shape, 1, dim)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType) // elem_type FLOAT
	tt = protowire.AppendVarint(tt, 1)
	tt = appendMsg(tt, 2, shape)
	var typ []byte
	typ = appendMsg(typ, 1, tt)
	var vi []byte
	vi = appendStr(vi, 1, name)
	return appendMsg(vi, 2, typ)
}

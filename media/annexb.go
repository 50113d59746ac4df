package media

// SplitAnnexB splits an Annex B byte stream into NAL units (without start
// codes), appending to dst[:0]. The units alias b.
func SplitAnnexB(b []byte, dst [][]byte) [][]byte {
	dst = dst[:0]
	start := -1
	i := 0
	for i+2 < len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				dst = appendNALU(dst, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		dst = appendNALU(dst, b[start:])
	} else if len(b) > 0 {
		dst = append(dst, b) // no start code: one raw unit
	}
	return dst
}

// appendNALU trims the zero bytes that belong to the next 4-byte start
// code (or trailing zeros) and drops empty units.
func appendNALU(dst [][]byte, n []byte) [][]byte {
	for len(n) > 0 && n[len(n)-1] == 0 {
		n = n[:len(n)-1]
	}
	if len(n) == 0 {
		return dst
	}
	return append(dst, n)
}

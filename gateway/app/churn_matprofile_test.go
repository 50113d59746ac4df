//go:build matprofile

package app

import (
	"bytes"

	"gocv.io/x/gocv"
)

// With -tags matprofile the churn test also counts gocv Mats.
func init() {
	matCount = gocv.MatProfile.Count
	matReport = func() string {
		var b bytes.Buffer
		_ = gocv.MatProfile.WriteTo(&b, 1)
		return b.String()
	}
}

package transcode

import (
	"os"
	"testing"

	"github.com/asticode/go-astiav"
)

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelFatal) // expected failures (no GPU) are noise here
	os.Exit(m.Run())
}

package rtsp

import (
	"github.com/bluenviron/gortsplib/v5/pkg/description"

	"github.com/visiongate/visiongate/media/rtpin"
)

// The conversion of announced tracks and their RTP packets is shared with
// the RTSP client that pulls cameras (media/rtpin).

// ErrNoVideo refuses an ANNOUNCE without an H.264 or H.265 track.
var ErrNoVideo = rtpin.ErrNoVideo

// ParamError refuses an announced track whose parameters cannot be read.
type ParamError = rtpin.ParamError

// inTrack is an announced track that is taken.
type inTrack = rtpin.Track

// announcedTracks picks the first video and the first audio track that
// can be taken; other tracks are set up but ignored.
func announcedTracks(desc *description.Session) (video, audio *inTrack, err error) {
	return rtpin.Select(desc)
}

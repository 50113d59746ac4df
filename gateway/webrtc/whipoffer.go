package webrtc

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/visiongate/visiongate/media"
)

// ingestFeedback is what we ask of a publisher's video: keyframes on PLI
// (we send them while we wait for one) and FIR, retransmissions (NACK),
// and TWCC reports for its bandwidth estimation.
var ingestFeedback = []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: "nack"},
	{Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}

// registerIngestCodecs registers what a WHIP session receives: the video
// codecs browsers send by default (the decoder takes them all) and Opus.
// VP9 and AV1 in profile 0 only: 8-bit 4:2:0, what every decoder takes.
func registerIngestCodecs(m *webrtc.MediaEngine) error {
	video := []webrtc.RTPCodecCapability{
		{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"},
		{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, SDPFmtpLine: "profile=0"},
	}
	for _, p := range h264Profiles {
		video = append(video, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: h264Fmtp(p)})
	}
	for i, c := range video {
		c.RTCPFeedback = []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}} // the interceptors add the rest
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(96 + i),
			RTPCodecCapability: c}, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	return m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}},
		webrtc.RTPCodecTypeAudio)
}

// ingestOffer is what a WHIP session takes from a publisher's offer.
type ingestOffer struct {
	sdp   string
	ufrag string // a different one in a PATCH is a restart
	mid   string // the video section's
	video format // the first offered video format we take: the publisher's preference
	codec media.Codec
	opus  bool // the first audio section sends Opus
}

// parseIngestOffer refuses, with a reason, an offer no publisher can
// come of: not SDP, no video to send, no video codec we take.
func parseIngestOffer(body []byte) (*ingestOffer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, &OfferError{Reason: "not an SDP offer: " + err.Error()}
	}
	o := &ingestOffer{sdp: string(body)}
	o.ufrag, _ = sd.Attribute("ice-ufrag")
	var video, audio *sdp.MediaDescription
	for _, md := range sd.MediaDescriptions {
		switch {
		case md.MediaName.Media == "video" && video == nil:
			video = md
		case md.MediaName.Media == "audio" && audio == nil:
			audio = md
		}
		if u, ok := md.Attribute("ice-ufrag"); ok && o.ufrag == "" {
			o.ufrag = u
		}
	}
	if video == nil {
		return nil, &OfferError{Reason: "no video section: a WHIP publisher sends video"}
	}
	if dir := direction(video); dir == "recvonly" || dir == "inactive" {
		return nil, &OfferError{Reason: "the video section is " + dir + ": WHIP offers send (sendonly)"}
	}
	o.mid, _ = video.Attribute("mid")
	if audio != nil && (direction(audio) == "sendonly" || direction(audio) == "sendrecv") {
		o.opus = hasOpus(formats(audio))
	}
	return o, o.pickVideo(formats(video))
}

// pickVideo takes the first format we can receive, in the offer's order:
// the publisher lists what it prefers first (Chromium: VP8).
func (o *ingestOffer) pickVideo(all []format) error {
	var offered []string
	for _, f := range all {
		if c, ok := ingestCodec(f); ok {
			o.video, o.codec = f, c
			return nil
		}
		if !auxiliary(f.name) {
			offered = append(offered, describe(f))
		}
	}
	return &IngestCodecError{Offered: dedup(offered)}
}

// ingestCodec tells whether we take a video format, and as what. The
// H.264 profiles are the registered ones, so that pion accepts the same.
func ingestCodec(f format) (media.Codec, bool) {
	if f.clock != 90000 {
		return "", false
	}
	switch strings.ToUpper(f.name) {
	case "VP8":
		return media.CodecVP8, true
	case "VP9":
		return media.CodecVP9, orZero(f.param("profile-id")) == "0"
	case "AV1":
		return media.CodecAV1, orZero(f.param("profile")) == "0"
	case "H264":
		return media.CodecH264, f.param("packetization-mode") == "1" &&
			registered(strings.ToLower(f.param("profile-level-id")))
	}
	return "", false
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// auxiliary formats protect others; they are no codec to name.
func auxiliary(name string) bool {
	switch strings.ToLower(name) {
	case "rtx", "red", "ulpfec", "flexfec-03":
		return true
	}
	return false
}

// describe names an offered format with what made us refuse it.
func describe(f format) string {
	switch strings.ToUpper(f.name) {
	case "H264":
		return f.name + " (packetization-mode=" + orZero(f.param("packetization-mode")) +
			", profile-level-id=" + f.param("profile-level-id") + ")"
	case "VP9":
		return f.name + " (profile-id=" + f.param("profile-id") + ")"
	case "AV1":
		return f.name + " (profile=" + f.param("profile") + ")"
	}
	return f.name
}

func hasOpus(all []format) bool {
	for _, f := range all {
		if strings.EqualFold(f.name, "opus") && f.clock == 48000 {
			return true
		}
	}
	return false
}

// preference is the offered video format as a transceiver codec: the
// answer then names it alone, so the publisher sends nothing else.
func (o *ingestOffer) preference() webrtc.RTPCodecParameters {
	pt, _ := strconv.ParseUint(o.video.pt, 10, 8)
	c := o.video.capability("video")
	c.RTCPFeedback = ingestFeedback
	return webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(pt), RTPCodecCapability: c}
}

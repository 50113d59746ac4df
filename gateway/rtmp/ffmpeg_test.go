package rtmp

import (
	"bytes"
	"os/exec"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
)

// ffmpeg is a running ffmpeg publisher.
type ffmpeg struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer // read once done is closed
	err    error
	done   chan struct{}
}

// startFFmpeg publishes a 640x360 H.264 test pattern with a sine in AAC,
// in real time, to path on env's server.
func startFFmpeg(t *testing.T, env *testEnv, path string) *ffmpeg {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed")
	}
	f := &ffmpeg{done: make(chan struct{})}
	f.cmd = exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-re", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-c:a", "aac",
		"-t", "60", "-f", "flv", "rtmp://"+env.srv.ListenAddr()+"/"+path)
	f.cmd.Stderr = &f.stderr
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	go func() {
		f.err = f.cmd.Wait()
		close(f.done)
	}()
	t.Cleanup(func() {
		f.cmd.Process.Kill() //nolint:errcheck // it may have exited
		<-f.done
	})
	return f
}

// waitExit waits for ffmpeg to end on its own, and says how.
func (f *ffmpeg) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case <-f.done:
		t.Logf("ffmpeg exited: %v: %s", f.err, f.stderr.String())
		return f.err
	case <-time.After(waitTimeout):
		t.Fatal("ffmpeg is still running")
		return nil
	}
}

func (f *ffmpeg) running() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

func TestFFmpegPublish(t *testing.T) {
	env := startServer(t, newBroker(nil, open), nil)
	sk := startSink(t, env.broker, "cam1")
	startFFmpeg(t, env, "cam1")
	sk.waitFor(t, "30 video and 10 audio packets", func(s *sink) bool {
		return len(s.video) >= 30 && len(s.audio) >= 10
	})
	sk.mu.Lock()
	defer sk.mu.Unlock()
	info := sk.pubs[0].Info()
	checkVideoTrack(t, info.Video, media.CodecH264, 640, 360, nil)
	if !bytes.HasPrefix(info.Video.Config, []byte{0, 0, 0, 1, 0x67}) {
		t.Errorf("video config %x does not start with an SPS", info.Video.Config)
	}
	a := info.Audio
	if a == nil || a.Codec != media.CodecAAC || (a.SampleRate != 44100 && a.SampleRate != 48000) ||
		a.ClockRate != a.SampleRate || a.Channels < 1 || len(a.Config) == 0 {
		t.Fatalf("audio track %+v", a)
	}
	checkFFmpegVideo(t, sk.video)
	for _, pk := range sk.audio {
		if !pk.Audio || len(pk.Data) == 0 {
			t.Fatalf("audio packet %+v", pk)
		}
	}
}

// checkFFmpegVideo: DTS grows, keyframes come with their SPS first.
func checkFFmpegVideo(t *testing.T, video []media.Packet) {
	t.Helper()
	keys := 0
	for i, pk := range video {
		if i > 0 && pk.DTS <= video[i-1].DTS {
			t.Fatalf("video DTS %d after %d", pk.DTS, video[i-1].DTS)
		}
		if !bytes.HasPrefix(pk.Data, []byte{0, 0, 0, 1}) {
			t.Fatalf("video packet %d is not Annex-B: %x", i, pk.Data[:min(8, len(pk.Data))])
		}
		if pk.Key {
			keys++
			if pk.Data[4]&0x1f != 7 {
				t.Fatalf("keyframe %d starts with NALU type %d, not an SPS", i, pk.Data[4]&0x1f)
			}
		}
	}
	if keys == 0 || !video[0].Key {
		t.Fatalf("%d keyframes; the first packet key: %v", keys, video[0].Key)
	}
}

func TestFFmpegCredentials(t *testing.T) {
	users := []publish.Credentials{{User: "alice", Pass: "s3cret"}}
	env := startServer(t, newBroker(users, open), nil)
	if err := startFFmpeg(t, env, "cam1?user=alice&pass=wrong").waitExit(t); err == nil {
		t.Error("ffmpeg succeeded with a wrong password")
	}
	env.log.waitErr(t, publish.ErrUnauthorized)
	sk := startSink(t, env.broker, "cam1")
	startFFmpeg(t, env, "cam1?user=alice&pass=s3cret")
	sk.waitFor(t, "video from the right credentials", func(s *sink) bool { return len(s.video) >= 10 })
}

func TestFFmpegBusy(t *testing.T) {
	env := startServer(t, newBroker(nil, open), nil)
	sk := startSink(t, env.broker, "cam1")
	first := startFFmpeg(t, env, "cam1")
	sk.waitFor(t, "the first publisher", func(s *sink) bool { return len(s.video) > 0 })
	if err := startFFmpeg(t, env, "cam1").waitExit(t); err == nil {
		t.Error("the second ffmpeg succeeded")
	}
	env.log.waitErr(t, publish.ErrBusy)
	sk.mu.Lock()
	n := len(sk.video)
	sk.mu.Unlock()
	sk.waitFor(t, "more from the first publisher", func(s *sink) bool {
		return len(s.pubs) == 1 && len(s.video) >= n+30
	})
	if !first.running() {
		t.Error("the first ffmpeg exited")
	}
}

func TestFFmpegTakeover(t *testing.T) {
	env := startServer(t, newBroker(nil, map[string]publish.Policy{"cam1": {Override: true}}), nil)
	sk := startSink(t, env.broker, "cam1")
	first := startFFmpeg(t, env, "cam1")
	sk.waitFor(t, "the first publisher", func(s *sink) bool { return len(s.video) > 0 })
	second := startFFmpeg(t, env, "cam1")
	sk.waitFor(t, "the second publisher", func(s *sink) bool { return len(s.pubs) == 2 })
	first.waitExit(t) //nolint:errcheck // any exit will do
	env.log.waitErr(t, publish.ErrTakenOver)
	sk.mu.Lock()
	n := len(sk.video)
	sk.mu.Unlock()
	sk.waitFor(t, "video from the second publisher", func(s *sink) bool { return len(s.video) >= n+30 })
	if !second.running() {
		t.Error("the second ffmpeg exited")
	}
}

package track

// Noise weights of ByteTrack/DeepSORT, relative to the box height.
const (
	stdPos = 1.0 / 20
	stdVel = 1.0 / 160
)

// refStep is the frame interval ByteTrack's weights were tuned for (MOT17,
// 30 fps). Our results come at a varying rate, so the weights are read as
// the noise of one refStep and the process variance grows linearly with dt
// (a random walk on position and on velocity): two predictions of dt/2 add
// the same uncertainty as one of dt, and a 5 fps detector gets the same
// uncertainty per second of real time as a 30 fps one.
const refStep = 1.0 / 30

func sq(v float64) float64 { return v * v }

// kf is a constant-velocity Kalman filter on one coordinate: state
// (position, velocity in pixels per second), covariance [[p00 p01][p01 p11]].
// With diagonal process and measurement noise DeepSORT's 8-state filter on
// (cx, cy, w, h) splits exactly into four of these, at a fraction of the
// cost of 8x8 matrices.
type kf struct {
	x, v          float64
	p00, p01, p11 float64
}

// filter tracks cx, cy, w, h; every noise scales with the height like
// ByteTrack's, so far (small) objects jitter less in pixels.
type filter [4]kf

func (f *filter) scale() float64 { return max(f[3].x, 1) }

// init starts at z with zero velocity and a velocity variance large enough
// (ten times the per-step noise, per second) that the first matches set it.
func (f *filter) init(z [4]float64) {
	s := max(z[3], 1)
	for i := range f {
		f[i] = kf{x: z[i], p00: sq(2 * stdPos * s), p11: sq(10 * stdVel * s / refStep)}
	}
}

// predict moves the state dt seconds ahead.
func (f *filter) predict(dt float64) {
	if !(dt > 0) {
		return
	}
	s := f.scale()
	qp := sq(stdPos*s) * dt / refStep
	qv := sq(stdVel*s/refStep) * dt / refStep
	for i := range f {
		k := &f[i]
		k.x += dt * k.v
		k.p00 += 2*dt*k.p01 + dt*dt*k.p11 + qp
		k.p01 += dt * k.p11
		k.p11 += qv
	}
}

// update corrects the state with the measurement z (cx, cy, w, h).
func (f *filter) update(z [4]float64) {
	r := sq(stdPos * f.scale())
	for i := range f {
		k := &f[i]
		s := k.p00 + r
		k0, k1 := k.p00/s, k.p01/s
		y := z[i] - k.x
		k.x += k0 * y
		k.v += k1 * y
		k.p11 -= k1 * k.p01
		k.p00 *= 1 - k0
		k.p01 *= 1 - k0
	}
}

// state returns the filtered (cx, cy, w, h) and their velocities.
func (f *filter) state() (pos, vel [4]float64) {
	for i := range f {
		pos[i], vel[i] = f[i].x, f[i].v
	}
	return pos, vel
}

package loadgen

import (
	"runtime"
	"time"
)

// CPU is the generator's own CPU use over a phase.
type CPU struct {
	UserSeconds float64 `json:"user_seconds"`
	SysSeconds  float64 `json:"sys_seconds"`
	WallSeconds float64 `json:"wall_seconds"`
	Cores       int     `json:"cores"`
	// Cores used on average: (user+sys)/wall.
	CoresUsed float64 `json:"cores_used"`
	// Saturated is set when the generator used more than 80 % of the machine's cores:
	// the figures may then measure the generator rather than the server.
	Saturated bool `json:"saturated"`
}

// SaturationThreshold is the share of all cores above which the generator counts as
// saturated.
const SaturationThreshold = 0.8

// cpuMeter measures a phase.
type cpuMeter struct {
	wall      time.Time
	user, sys time.Duration
}

func startCPU() cpuMeter {
	u, s := cpuTime()
	return cpuMeter{wall: time.Now(), user: u, sys: s}
}

func (m cpuMeter) stop() CPU {
	u, s := cpuTime()
	c := CPU{
		UserSeconds: (u - m.user).Seconds(),
		SysSeconds:  (s - m.sys).Seconds(),
		WallSeconds: time.Since(m.wall).Seconds(),
		Cores:       runtime.NumCPU(),
	}
	if c.WallSeconds > 0 {
		c.CoresUsed = (c.UserSeconds + c.SysSeconds) / c.WallSeconds
	}
	c.Saturated = c.CoresUsed > SaturationThreshold*float64(c.Cores)
	return c
}

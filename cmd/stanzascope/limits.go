package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/stanzascope/stanzascope/switch/server"
)

// limitFlags are the switch's limits per client address and per account
// (docs/RELIABILITY.md): on 'stanzascope switch', and on 'stanzascope proxy' for its
// embedded switch. On the command line 0 turns a limit off.
type limitFlags struct {
	connsPerIP, loginsPerMinute, registrationsPerMinute, authFailuresPerMinute int
	sessionsPerAccount                                                         int
	authFailureDelay                                                           time.Duration
	names                                                                      []string
}

// addLimitFlags adds the flags; prefix starts their help ("embedded switch: " on the proxy).
func addLimitFlags(fs *pflag.FlagSet, prefix string) *limitFlags {
	l := &limitFlags{}
	intFlag := func(p *int, name string, def int, help string) {
		fs.IntVar(p, name, def, prefix+help)
		l.names = append(l.names, name)
	}
	intFlag(&l.connsPerIP, "max-conns-per-ip", server.DefaultMaxConnsPerIP, "most connections open at once from one client address (IPv6: one /64); 0: no limit")
	intFlag(&l.loginsPerMinute, "logins-per-minute", server.DefaultLoginsPerMinute, "login attempts (SASL, iq:auth) one client address may make per minute; 0: no limit")
	intFlag(&l.registrationsPerMinute, "registrations-per-minute", server.DefaultRegistrationsPerMinute, "in-band registrations one client address may make per minute; 0: no limit")
	intFlag(&l.authFailuresPerMinute, "auth-failures-per-minute", server.DefaultAuthFailuresPerMinute, "failed authentications of one client address per minute before each further one is answered after --auth-failure-delay (no account is locked); 0: no limit")
	fs.DurationVar(&l.authFailureDelay, "auth-failure-delay", server.DefaultAuthFailureDelay, prefix+"how long a failed authentication past --auth-failures-per-minute waits for its answer")
	l.names = append(l.names, "auth-failure-delay")
	intFlag(&l.sessionsPerAccount, "max-sessions-per-account", server.DefaultMaxSessionsPerAccount, "most resources bound at once for one account; 0: no limit")
	return l
}

// validate checks the flags; its errors are usage errors.
func (l *limitFlags) validate() error {
	for _, v := range []int{l.connsPerIP, l.loginsPerMinute, l.registrationsPerMinute, l.authFailuresPerMinute, l.sessionsPerAccount} {
		if v < 0 {
			return usagef("--max-conns-per-ip, --logins-per-minute, --registrations-per-minute, --auth-failures-per-minute and --max-sessions-per-account must not be negative (0 turns a limit off)")
		}
	}
	if l.authFailureDelay <= 0 {
		return usagef("--auth-failure-delay must be positive")
	}
	return nil
}

// changed reports whether any of the flags was given.
func (l *limitFlags) changed(fs *pflag.FlagSet) bool {
	for _, n := range l.names {
		if fs.Changed(n) {
			return true
		}
	}
	return false
}

// apply sets the limits in cfg (server.Config's 0 is the default, negative no limit).
func (l *limitFlags) apply(cfg *server.Config) {
	off := func(v int) int {
		if v == 0 {
			return -1
		}
		return v
	}
	cfg.MaxConnsPerIP = off(l.connsPerIP)
	cfg.LoginsPerMinute = off(l.loginsPerMinute)
	cfg.RegistrationsPerMinute = off(l.registrationsPerMinute)
	cfg.AuthFailuresPerMinute = off(l.authFailuresPerMinute)
	cfg.AuthFailureDelay = l.authFailureDelay
	cfg.MaxSessionsPerAccount = off(l.sessionsPerAccount)
}

package webrtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs sends pion's logs to the server's logger one level down: pion
// reports a viewer that vanished as an error, which is routine here.
// Its info, debug and trace logs are dropped.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log, scope: scope}
}

type pionLogger struct {
	log   *slog.Logger
	scope string
}

func (l pionLogger) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, "webrtc: pion: "+msg, "scope", l.scope)
}

// emitf formats only what is logged: pion logs a lot.
func (l pionLogger) emitf(level slog.Level, format string, args []any) {
	if l.log.Enabled(context.Background(), level) {
		l.emit(level, fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(string)                   {}
func (l pionLogger) Tracef(string, ...any)          {}
func (l pionLogger) Debug(string)                   {}
func (l pionLogger) Debugf(string, ...any)          {}
func (l pionLogger) Info(string)                    {}
func (l pionLogger) Infof(string, ...any)           {}
func (l pionLogger) Warn(msg string)                { l.emit(slog.LevelDebug, msg) }
func (l pionLogger) Warnf(format string, a ...any)  { l.emitf(slog.LevelDebug, format, a) }
func (l pionLogger) Error(msg string)               { l.emit(slog.LevelWarn, msg) }
func (l pionLogger) Errorf(format string, a ...any) { l.emitf(slog.LevelWarn, format, a) }

package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// The page's files. ui/static/vendor/hls.min.js is copied there from npm by
// scripts/setup.sh and is not committed; without it the page plays native
// HLS or MJPEG, and the build does not care.
//
//go:embed ui/static
var uiFiles embed.FS

// uiModTime lets browsers revalidate with If-Modified-Since; the files
// change only with the binary.
var uiModTime = time.Now()

// mountUI serves the page at / and its assets under /ui/.
func mountUI(r *gin.Engine) {
	static, err := fs.Sub(uiFiles, "ui/static")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	serve := func(c *gin.Context, name string) {
		b, err := fs.ReadFile(static, name)
		if err != nil {
			writeError(c, http.StatusNotFound, "no such file")
			return
		}
		c.Header("Cache-Control", "no-cache")
		c.Header("X-Content-Type-Options", "nosniff")
		http.ServeContent(c.Writer, c.Request, name, uiModTime, bytes.NewReader(b))
	}
	r.GET("/", func(c *gin.Context) { serve(c, "index.html") })
	r.GET("/ui/*file", func(c *gin.Context) {
		name := strings.TrimPrefix(path.Clean(c.Param("file")), "/")
		serve(c, name)
	})
}

package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/visiongate/visiongate/gateway/api"
	"github.com/visiongate/visiongate/gateway/config"
)

const apiPrefix = "/api/v1"

var badName = &config.ValidationError{Field: "name", Reason: "must match " + config.NamePattern}

// Content types accepted for request bodies.
var (
	jsonTypes  = []string{"application/json"}
	patchTypes = []string{"application/json", "application/merge-patch+json"}
)

type sourcesAPI struct {
	src     Sources
	log     *slog.Logger
	maxBody int64
}

func (a *sourcesAPI) mount(g *gin.RouterGroup) {
	g.GET("/sources", a.list)
	g.POST("/sources", a.create)
	g.GET("/sources/:name", a.get)
	g.PATCH("/sources/:name", a.patch)
	g.DELETE("/sources/:name", a.remove)
}

func (a *sourcesAPI) list(c *gin.Context) {
	list := a.src.List()
	if list == nil {
		list = []api.Status{} // "sources": [] rather than null
	}
	c.JSON(http.StatusOK, gin.H{"sources": list})
}

func (a *sourcesAPI) create(c *gin.Context) {
	raw, ok := a.readObject(c, jsonTypes)
	if !ok {
		return
	}
	src, err := decodeSource(raw)
	if err != nil {
		a.fail(c, "", err)
		return
	}
	st, err := a.src.Add(src)
	if err != nil {
		a.fail(c, src.Name, err)
		return
	}
	c.Header("Location", apiPrefix+"/sources/"+src.Name)
	c.JSON(http.StatusCreated, st)
}

func (a *sourcesAPI) get(c *gin.Context) {
	name, ok := pathName(c)
	if !ok {
		return
	}
	st, err := a.src.Get(name)
	if err != nil {
		a.fail(c, name, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (a *sourcesAPI) patch(c *gin.Context) {
	name, ok := pathName(c)
	if !ok {
		return
	}
	raw, ok := a.readObject(c, patchTypes)
	if !ok {
		return
	}
	if err := checkPatch(raw, name); err != nil {
		a.fail(c, name, err)
		return
	}
	st, err := a.src.Update(name, raw)
	if err != nil {
		a.fail(c, name, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (a *sourcesAPI) remove(c *gin.Context) {
	name, ok := pathName(c)
	if !ok {
		return
	}
	if err := a.src.Remove(name); err != nil {
		a.fail(c, name, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// pathName returns the :name parameter, answering 400 when it could never
// be a source name (a 404 would hide the typo from the user).
func pathName(c *gin.Context) (string, bool) {
	name := c.Param("name")
	if !config.ValidName(name) {
		c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: badName.Error(), Field: badName.Field})
		return "", false
	}
	return name, true
}

// fail maps an error from decoding or from Sources to its status code.
// Unknown errors are the server's fault: logged, never shown.
func (a *sourcesAPI) fail(c *gin.Context, name string, err error) {
	var ve *config.ValidationError
	switch {
	case errors.As(err, &ve):
		msg := ve.Error()
		if ve.Field == "" {
			msg = ve.Reason
		}
		c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: redact(msg), Field: ve.Field})
	case errors.Is(err, api.ErrNotFound):
		writeError(c, http.StatusNotFound, fmt.Sprintf("source %q not found", name))
	case errors.Is(err, api.ErrExists):
		writeError(c, http.StatusConflict, fmt.Sprintf("source %q already exists", name))
	case errors.Is(err, config.ErrSourceLimit):
		writeError(c, http.StatusServiceUnavailable, err.Error())
	default:
		a.log.Error("web: source manager failed", "method", c.Request.Method,
			"path", c.Request.URL.Path, "err", redact(err.Error()))
		writeError(c, http.StatusInternalServerError, "internal error")
	}
}

// redact masks the credentials of every URL in a message. Status already
// carries masked URLs, but error texts come from code web does not own.
func redact(msg string) string { return config.MaskURLsIn(msg) }

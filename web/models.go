package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Model is one file in the models directory.
type Model struct {
	Name     string `json:"name"`     // what vision.model (or classes, cascade) takes
	Kind     string `json:"kind"`     // model, classes, cascade, model_config or file
	Size     int64  `json:"size"`     // bytes
	Modified string `json:"modified"` // RFC 3339
}

// Models lists the models directory.
type Models interface {
	Models() ([]Model, error)
}

func mountModels(g *gin.RouterGroup, m Models) {
	g.GET("/models", func(c *gin.Context) {
		list, err := m.Models()
		if err != nil {
			writeError(c, http.StatusInternalServerError, "cannot list the models directory")
			return
		}
		if list == nil {
			list = []Model{}
		}
		c.JSON(http.StatusOK, gin.H{"models": list})
	})
}

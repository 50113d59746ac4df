// C interface to the few OpenCV calls that gocv v0.32.0 either lacks
// (HOG weights) or lets throw C++ exceptions through cgo (which aborts the
// whole process): every function here catches cv::Exception and reports it
// through err instead.
#ifndef VISIONGATE_CVEXT_H
#define VISIONGATE_CVEXT_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	unsigned char* data;
	int rows, cols, step, type;
} VGImage;

typedef struct {
	int x, y, w, h;
	float score;
} VGBox;

typedef struct {
	float* data;
	long total;
	int ndims;
	int dims[8];
	void* owner;
} VGTensor;

void vg_set_num_threads(int n);

void* vg_hog_new(char* err, int errlen);
void vg_hog_free(void* h);
int vg_hog_detect(void* h, VGImage img, double hit, int stride, int pad,
	double scale, double group, VGBox* out, int max, char* err, int errlen);

void* vg_cascade_new(const char* path, char* err, int errlen);
void vg_cascade_free(void* c);
int vg_cascade_detect(void* c, VGImage gray, double scale, int neighbors,
	int minSize, VGBox* out, int max, char* err, int errlen);

void* vg_net_new(const char* model, const char* config, int backend,
	int target, char* err, int errlen);
void vg_net_free(void* n);
int vg_net_forward(void* n, VGImage img, double scale, double m0, double m1,
	double m2, int inW, int inH, int swapRB, VGTensor* out, char* err, int errlen);
void vg_tensor_free(VGTensor* t);

#ifdef __cplusplus
}
#endif

#endif

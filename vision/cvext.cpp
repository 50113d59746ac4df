#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/objdetect.hpp>

#include <cstring>
#include <exception>
#include <vector>

#include "cvext.h"

static void setErr(char* err, int errlen, const char* msg) {
	if (err == NULL || errlen <= 0) return;
	strncpy(err, msg, errlen - 1);
	err[errlen - 1] = 0;
}

static cv::Mat wrap(VGImage img) {
	return cv::Mat(img.rows, img.cols, img.type, img.data, (size_t)img.step);
}

static int copyBoxes(const std::vector<cv::Rect>& r, const std::vector<double>* w,
	VGBox* out, int max) {
	int n = (int)r.size() < max ? (int)r.size() : max;
	for (int i = 0; i < n; i++) {
		out[i].x = r[i].x;
		out[i].y = r[i].y;
		out[i].w = r[i].width;
		out[i].h = r[i].height;
		out[i].score = (w != NULL && i < (int)w->size()) ? (float)(*w)[i] : 1.0f;
	}
	return n;
}

void vg_set_num_threads(int n) { cv::setNumThreads(n); }

void* vg_hog_new(char* err, int errlen) {
	try {
		cv::HOGDescriptor* h = new cv::HOGDescriptor();
		h->setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector());
		return h;
	} catch (const std::exception& e) {
		setErr(err, errlen, e.what());
		return NULL;
	}
}

void vg_hog_free(void* h) { delete (cv::HOGDescriptor*)h; }

int vg_hog_detect(void* h, VGImage img, double hit, int stride, int pad,
	double scale, double group, VGBox* out, int max, char* err, int errlen) {
	try {
		std::vector<cv::Rect> found;
		std::vector<double> weights;
		((cv::HOGDescriptor*)h)->detectMultiScale(wrap(img), found, weights, hit,
			cv::Size(stride, stride), cv::Size(pad, pad), scale, group, false);
		return copyBoxes(found, &weights, out, max);
	} catch (const std::exception& e) {
		setErr(err, errlen, e.what());
		return -1;
	}
}

void* vg_cascade_new(const char* path, char* err, int errlen) {
	try {
		cv::CascadeClassifier* c = new cv::CascadeClassifier();
		if (!c->load(path)) {
			delete c;
			setErr(err, errlen, "cannot load cascade");
			return NULL;
		}
		return c;
	} catch (const std::exception& e) {
		setErr(err, errlen, e.what());
		return NULL;
	}
}

void vg_cascade_free(void* c) { delete (cv::CascadeClassifier*)c; }

int vg_cascade_detect(void* c, VGImage gray, double scale, int neighbors,
	int minSize, VGBox* out, int max, char* err, int errlen) {
	try {
		std::vector<cv::Rect> found;
		((cv::CascadeClassifier*)c)->detectMultiScale(wrap(gray), found, scale,
			neighbors, 0, cv::Size(minSize, minSize));
		return copyBoxes(found, NULL, out, max);
	} catch (const std::exception& e) {
		setErr(err, errlen, e.what());
		return -1;
	}
}

void* vg_net_new(const char* model, const char* config, int backend,
	int target, char* err, int errlen) {
	try {
		cv::dnn::Net net = cv::dnn::readNet(model, config);
		if (net.empty()) {
			setErr(err, errlen, "empty network");
			return NULL;
		}
		net.setPreferableBackend(backend);
		net.setPreferableTarget(target);
		return new cv::dnn::Net(net);
	} catch (const std::exception& e) {
		setErr(err, errlen, e.what());
		return NULL;
	}
}

void vg_net_free(void* n) { delete (cv::dnn::Net*)n; }

int vg_net_forward(void* n, VGImage img, double scale, double m0, double m1,
	double m2, int inW, int inH, int swapRB, VGTensor* out, char* err, int errlen) {
	try {
		cv::dnn::Net* net = (cv::dnn::Net*)n;
		cv::Mat blob = cv::dnn::blobFromImage(wrap(img), scale, cv::Size(inW, inH),
			cv::Scalar(m0, m1, m2), swapRB != 0, false, CV_32F);
		net->setInput(blob);
		cv::Mat* res = new cv::Mat(net->forward());
		if (res->type() != CV_32F || !res->isContinuous() || res->dims > 8) {
			delete res;
			setErr(err, errlen, "network output is not a continuous float32 tensor");
			return -1;
		}
		out->owner = res;
		out->data = (float*)res->data;
		out->total = (long)res->total();
		out->ndims = res->dims;
		for (int i = 0; i < res->dims; i++) out->dims[i] = res->size[i];
		return 0;
	} catch (const std::exception& e) {
		setErr(err, errlen, e.what());
		return -1;
	}
}

void vg_tensor_free(VGTensor* t) {
	delete (cv::Mat*)t->owner;
	t->owner = NULL;
	t->data = NULL;
}

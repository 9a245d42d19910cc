/* Where a computation runs: the CPU, or an NVIDIA GPU in a build with the CUDA backend (make CUDA=1). */
#ifndef ILR_DEVICE_H
#define ILR_DEVICE_H

typedef enum { ILR_DEVICE_CPU = 0, ILR_DEVICE_CUDA = 1 } ilr_device;

/* "cpu" or "cuda"; ILR_EUNSUPPORTED for cuda in a build without the CUDA backend, ILR_EINVAL otherwise. */
int ilr_device_parse(const char *text, ilr_device *device);

#endif

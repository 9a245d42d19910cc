/* Device names (see ilr/device.h). */
#include "ilr/device.h"

#include <string.h>

#include "ilr/error.h"

int ilr_device_parse(const char *text, ilr_device *device) {
    if (strcmp(text, "cpu") == 0) return *device = ILR_DEVICE_CPU, 0;
    if (strcmp(text, "cuda") == 0) {
#ifdef ILR_CUDA
        return *device = ILR_DEVICE_CUDA, 0;
#else
        return ILR_FAIL(ILR_EUNSUPPORTED, "device cuda: this ilr was built without the CUDA backend (make CUDA=1)");
#endif
    }
    return ILR_FAIL(ILR_EINVAL, "device must be cpu or cuda, not '%s'", text);
}

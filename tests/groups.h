/* Every test group, in the order they run.  Add a line when you add tests/test_<name>.c. */
ILR_GROUP(error)
ILR_GROUP(base)
ILR_GROUP(kernels)
ILR_GROUP(safetensors)
ILR_GROUP(config)
ILR_GROUP(model_dir)
ILR_GROUP(cli)
ILR_GROUP(transformer)

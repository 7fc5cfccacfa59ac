this is { not HCL

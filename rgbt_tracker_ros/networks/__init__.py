"""Networks of the CMD RGB-T trackers (student and teacher on DiMP); see ``docs/networks.md``.

Modules: ``config`` (ModelConfig, load_config, build_model; YAML in ``configs/``), ``models``
(RGBTDiMPNet, FusionFeatures, ModelOutput), ``backbones`` (ResNet trunks, ImageNet weights),
``fusion`` (MPSD; MDC + FRS), ``classifier`` / ``optimizer`` / ``filter_ops`` (DiMP target
classifier and model predictor), ``iou_net`` (IoU-Net), ``roi_pool`` (exact PrRoIPool and the legacy
substitute), ``losses`` (LBHinge, IoU loss), ``checkpoint`` (save/load), ``flops`` (per-frame cost),
``import_pytracking`` (pytracking DiMP18/DiMP50/SuperDiMP weights).
Nothing is imported here so that ``import rgbt_tracker_ros.networks.config`` stays torch-free.
"""

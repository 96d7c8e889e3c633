"""Networks of the RGB-T trackers: the CMD student and teacher on DiMP, and AINet on OSTrack; see
``docs/networks.md``.

Modules: ``config`` (ModelConfig, AINetConfig, load_config, build_model; YAML in ``configs/``), ``models``
(RGBTDiMPNet, FusionFeatures, ModelOutput), ``backbones`` (ResNet trunks, ImageNet weights),
``fusion`` (MPSD; MDC + FRS), ``classifier`` / ``optimizer`` / ``filter_ops`` (DiMP target
classifier and model predictor), ``iou_net`` (IoU-Net), ``roi_pool`` (exact PrRoIPool and the legacy
substitute); AINet: ``ainet`` (AINet, AINetFeatures, AINetOutput), ``vit`` (OSTrack's one-stream ViT),
``mamba`` (Mamba layers, selective-scan backends), ``fusion_mamba`` (DFM, OFM), ``center_head``;
``losses`` (LBHinge, IoU loss, GIoU, focal), ``checkpoint`` (save/load, both families), ``flops`` (per-frame
cost), weight import per source: ``import_pytracking`` (DiMP18/DiMP50/SuperDiMP), ``import_timm`` (timm /
MAE / DropMAE ViTs), ``import_ostrack`` (OSTrack / DropTrack), over ``foreign_checkpoints``.
Nothing is imported here so that ``import rgbt_tracker_ros.networks.config`` stays torch-free.
"""

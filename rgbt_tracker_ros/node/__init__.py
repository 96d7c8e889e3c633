"""The ROS-free core of the nodes: session state machine, parameter table, message conversions,
diagnostics content and the debug-image renderer (tested with plain pytest; ``ros/`` adapts them to rclpy)."""

import datetime

from factorymesh.api.common.v1 import equipment_pb2 as _equipment_pb2
from factorymesh.api.inference.v1 import inference_result_pb2 as _inference_result_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STATE_UNSPECIFIED: _ClassVar[ModelState]
    MODEL_STATE_AVAILABLE: _ClassVar[ModelState]
    MODEL_STATE_LOADING: _ClassVar[ModelState]
    MODEL_STATE_READY: _ClassVar[ModelState]
    MODEL_STATE_UNLOADING: _ClassVar[ModelState]
    MODEL_STATE_FAILED: _ClassVar[ModelState]
MODEL_STATE_UNSPECIFIED: ModelState
MODEL_STATE_AVAILABLE: ModelState
MODEL_STATE_LOADING: ModelState
MODEL_STATE_READY: ModelState
MODEL_STATE_UNLOADING: ModelState
MODEL_STATE_FAILED: ModelState

class ModelInfo(_message.Message):
    __slots__ = ("name", "version", "task", "equipment_classes", "feature_set_version", "platform", "description", "state", "metrics", "feature_names")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASSES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    task: _inference_result_pb2.InferenceTask
    equipment_classes: _containers.RepeatedScalarFieldContainer[str]
    feature_set_version: str
    platform: str
    description: str
    state: ModelState
    metrics: _containers.ScalarMap[str, float]
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., task: _Optional[_Union[_inference_result_pb2.InferenceTask, str]] = ..., equipment_classes: _Optional[_Iterable[str]] = ..., feature_set_version: _Optional[str] = ..., platform: _Optional[str] = ..., description: _Optional[str] = ..., state: _Optional[_Union[ModelState, str]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., feature_names: _Optional[_Iterable[str]] = ...) -> None: ...

class ModelStatus(_message.Message):
    __slots__ = ("state", "reason", "inference_count", "failure_count", "last_inference_time", "latency_p50_ms", "latency_p99_ms", "load_time")
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_INFERENCE_TIME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    LOAD_TIME_FIELD_NUMBER: _ClassVar[int]
    state: ModelState
    reason: str
    inference_count: int
    failure_count: int
    last_inference_time: _timestamp_pb2.Timestamp
    latency_p50_ms: float
    latency_p99_ms: float
    load_time: _timestamp_pb2.Timestamp
    def __init__(self, state: _Optional[_Union[ModelState, str]] = ..., reason: _Optional[str] = ..., inference_count: _Optional[int] = ..., failure_count: _Optional[int] = ..., last_inference_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency_p50_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., load_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelRoute(_message.Message):
    __slots__ = ("name", "task", "equipment_class", "equipment_prefix", "primary_model_name", "primary_model_version", "shadow_models", "update_time", "updated_by", "etag", "canary")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_PREFIX_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SHADOW_MODELS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CANARY_FIELD_NUMBER: _ClassVar[int]
    name: str
    task: _inference_result_pb2.InferenceTask
    equipment_class: str
    equipment_prefix: _equipment_pb2.EquipmentPath
    primary_model_name: str
    primary_model_version: str
    shadow_models: _containers.RepeatedCompositeFieldContainer[ShadowModel]
    update_time: _timestamp_pb2.Timestamp
    updated_by: str
    etag: str
    canary: CanaryModel
    def __init__(self, name: _Optional[str] = ..., task: _Optional[_Union[_inference_result_pb2.InferenceTask, str]] = ..., equipment_class: _Optional[str] = ..., equipment_prefix: _Optional[_Union[_equipment_pb2.EquipmentPath, _Mapping]] = ..., primary_model_name: _Optional[str] = ..., primary_model_version: _Optional[str] = ..., shadow_models: _Optional[_Iterable[_Union[ShadowModel, _Mapping]]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ..., etag: _Optional[str] = ..., canary: _Optional[_Union[CanaryModel, _Mapping]] = ...) -> None: ...

class CanaryModel(_message.Message):
    __slots__ = ("model_name", "model_version", "traffic_fraction")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FRACTION_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version: str
    traffic_fraction: float
    def __init__(self, model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., traffic_fraction: _Optional[float] = ...) -> None: ...

class ShadowModel(_message.Message):
    __slots__ = ("model_name", "model_version", "sample_fraction")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version: str
    sample_fraction: float
    def __init__(self, model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., sample_fraction: _Optional[float] = ...) -> None: ...

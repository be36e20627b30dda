from factorymesh.api.inference.v1 import inference_result_pb2 as _inference_result_pb2
from factorymesh.api.inference.v1 import model_pb2 as _model_pb2
from factorymesh.api.telemetry.v1 import feature_window_pb2 as _feature_window_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PredictRequest(_message.Message):
    __slots__ = ("window", "task", "model_name", "model_version", "additional_windows", "features")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    window: _feature_window_pb2.FeatureWindow
    task: _inference_result_pb2.InferenceTask
    model_name: str
    model_version: str
    additional_windows: _containers.RepeatedCompositeFieldContainer[_feature_window_pb2.FeatureWindow]
    features: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, window: _Optional[_Union[_feature_window_pb2.FeatureWindow, _Mapping]] = ..., task: _Optional[_Union[_inference_result_pb2.InferenceTask, str]] = ..., model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., additional_windows: _Optional[_Iterable[_Union[_feature_window_pb2.FeatureWindow, _Mapping]]] = ..., features: _Optional[_Iterable[float]] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _inference_result_pb2.InferenceResult
    def __init__(self, result: _Optional[_Union[_inference_result_pb2.InferenceResult, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("task", "equipment_class", "page_size", "page_token")
    TASK_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    task: _inference_result_pb2.InferenceTask
    equipment_class: str
    page_size: int
    page_token: str
    def __init__(self, task: _Optional[_Union[_inference_result_pb2.InferenceTask, str]] = ..., equipment_class: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[_model_pb2.ModelInfo]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[_model_pb2.ModelInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetModelStatusRequest(_message.Message):
    __slots__ = ("model_name", "model_version")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version: str
    def __init__(self, model_name: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class GetModelStatusResponse(_message.Message):
    __slots__ = ("model", "status", "versions")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    model: _model_pb2.ModelInfo
    status: _model_pb2.ModelStatus
    versions: _containers.RepeatedCompositeFieldContainer[_model_pb2.ModelInfo]
    def __init__(self, model: _Optional[_Union[_model_pb2.ModelInfo, _Mapping]] = ..., status: _Optional[_Union[_model_pb2.ModelStatus, _Mapping]] = ..., versions: _Optional[_Iterable[_Union[_model_pb2.ModelInfo, _Mapping]]] = ...) -> None: ...

class SetRouteRequest(_message.Message):
    __slots__ = ("route", "validate_only")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    route: _model_pb2.ModelRoute
    validate_only: bool
    def __init__(self, route: _Optional[_Union[_model_pb2.ModelRoute, _Mapping]] = ..., validate_only: bool = ...) -> None: ...

class SetRouteResponse(_message.Message):
    __slots__ = ("route",)
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    route: _model_pb2.ModelRoute
    def __init__(self, route: _Optional[_Union[_model_pb2.ModelRoute, _Mapping]] = ...) -> None: ...

class ListRoutesRequest(_message.Message):
    __slots__ = ("task", "equipment_class", "page_size", "page_token")
    TASK_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    task: _inference_result_pb2.InferenceTask
    equipment_class: str
    page_size: int
    page_token: str
    def __init__(self, task: _Optional[_Union[_inference_result_pb2.InferenceTask, str]] = ..., equipment_class: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRoutesResponse(_message.Message):
    __slots__ = ("routes", "next_page_token")
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[_model_pb2.ModelRoute]
    next_page_token: str
    def __init__(self, routes: _Optional[_Iterable[_Union[_model_pb2.ModelRoute, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

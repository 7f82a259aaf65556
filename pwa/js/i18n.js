// Chinese first, English selectable. Keys are English phrases' short names.
const STRINGS = {
  zh: {
    appName: "现场取证", login: "登录", logout: "退出登录", username: "用户名", password: "密码",
    loginFailed: "用户名或密码错误", loginAgain: "登录已过期，请重新登录以继续同步",
    offlineMode: "离线模式：显示手机上保存的数据", myCases: "我的案件", allCases: "案件列表",
    outbox: "待发送", settings: "设置", syncNow: "立即同步", syncing: "正在同步…",
    synced: "已全部发送", waiting: "等待发送", savedOnPhone: "已保存在手机上",
    sending: "正在发送", sent: "已发送", failed: "发送失败", draft: "未完成的检查",
    needsLogin: "需要重新登录", noNetwork: "无网络", portal: "网络要求登录（如酒店/车站Wi-Fi），未发送",
    serverDown: "服务器暂不可用，稍后重试", retry: "重试", nothingWaiting: "没有待发送的内容",
    startCheck: "开始检查", saveCheck: "保存检查", kind: "检查类型", partners: "参与单位",
    findings: "检查情况", noise: "噪声读数", reading: "读数 dB(A)", zoneClass: "声环境功能区",
    period: "时段", day: "昼间", night: "夜间", limit: "限值", exceeded: "超标",
    withinLimit: "未超标", takePhoto: "拍照", place: "地点", caption: "说明",
    photographer: "摄影人", takenAt: "摄影时间", evidence: "现场照片", visits: "检查记录",
    noEvidence: "暂无照片", distance: "距离", address: "地址", deadline: "期限",
    due: "截止", overdue: "已超期", fixWaiting: "正在定位…", fixLate: "定位稍后补记",
    accuracy: "精度", language: "语言", nightVision: "夜视红光模式", storage: "存储空间",
    storageLow: "手机存储空间不足，请尽快同步", persisted: "已申请持久存储",
    iosHint: "iPhone 用户：请点“分享”→“添加到主屏幕”，否则 Safari 可能在 7 天后清除离线数据。",
    micEstimate: "手机麦克风估测（仅供参考，不作为监测结果）", calibration: "校准偏移 dB",
    startMic: "开始估测", stopMic: "停止", indicative: "参考值", back: "返回",
    filters: "筛选", search: "搜索", status: "状态", category: "类别", channel: "来源",
    any: "全部", flags: "提示", gps: "GPS", case: "案件", receivedAt: "受理时间",
    unfinished: "点此继续完成检查", removeDraft: "放弃草稿", confirmDiscard: "确定放弃？照片也将删除。",
    lastUpdated: "更新于", photosSaved: "张照片已保存", checkSaved: "检查已保存，将自动发送",
    required: "必填", error: "出错了", loading: "加载中…", keyCase: "重点件",
    photo: "照片", check: "检查", waitsForCheck: "检查保存后发送",
    otherUser: "由另一位用户采集：该用户登录后发送",
    notSaved: "照片未保存！请清理手机存储空间后重拍", readingRange: "读数应在 0–200 dB(A) 之间",
    calibrationRange: "校准偏移应在 −30 到 30 dB 之间", logoutOffline: "退出登录需要网络连接",
    discard: "放弃", waitsRefused: "检查被退回：照片将单独发送", cachedGone: "无权查看或已不存在",
  },
  en: {
    appName: "Fieldcase", login: "Log in", logout: "Log out", username: "Username", password: "Password",
    loginFailed: "Wrong username or password", loginAgain: "Your session ended: log in again to carry on syncing",
    offlineMode: "Offline: showing what is saved on this phone", myCases: "My cases", allCases: "Cases",
    outbox: "Outbox", settings: "Settings", syncNow: "Sync now", syncing: "Syncing…",
    synced: "Everything sent", waiting: "Waiting", savedOnPhone: "Saved on this phone",
    sending: "Sending", sent: "Sent", failed: "Failed", draft: "Unfinished check",
    needsLogin: "Log in again", noNetwork: "No network", portal: "The network wants a login page (hotel/station Wi-Fi); not sent",
    serverDown: "Server unavailable; will retry", retry: "Retry", nothingWaiting: "Nothing waiting",
    startCheck: "Start a check", saveCheck: "Save check", kind: "Kind", partners: "Partners present",
    findings: "Findings", noise: "Noise reading", reading: "Reading dB(A)", zoneClass: "Zone class",
    period: "Period", day: "Day", night: "Night", limit: "Limit", exceeded: "Exceeded",
    withinLimit: "Within limit", takePhoto: "Take photo", place: "Place", caption: "Caption",
    photographer: "Photographer", takenAt: "Taken", evidence: "Evidence photos", visits: "Visits",
    noEvidence: "No photos yet", distance: "Distance", address: "Address", deadline: "Deadline",
    due: "Due", overdue: "Overdue", fixWaiting: "Finding location…", fixLate: "Location added later",
    accuracy: "accuracy", language: "Language", nightVision: "Night vision (red)", storage: "Storage",
    storageLow: "Storage on this phone is low: sync soon", persisted: "Persistent storage granted",
    iosHint: "On iPhone: tap Share → Add to Home Screen, or Safari may erase offline data after 7 days.",
    micEstimate: "Phone microphone estimate (indicative only, not a measurement)", calibration: "Calibration offset dB",
    startMic: "Estimate", stopMic: "Stop", indicative: "indicative", back: "Back",
    filters: "Filters", search: "Search", status: "Status", category: "Category", channel: "Channel",
    any: "Any", flags: "Flags", gps: "GPS", case: "Case", receivedAt: "Received",
    unfinished: "Tap to finish this check", removeDraft: "Discard draft", confirmDiscard: "Discard? Its photos go too.",
    lastUpdated: "Updated", photosSaved: "photos saved", checkSaved: "Check saved; it will be sent automatically",
    required: "required", error: "Error", loading: "Loading…", keyCase: "Key case",
    photo: "Photo", check: "Check", waitsForCheck: "sent once its check is saved",
    otherUser: "Captured by another user: sent when they log in",
    notSaved: "Photo NOT saved! Free up space on the phone and take it again",
    readingRange: "Readings are 0–200 dB(A)", calibrationRange: "Calibration offset is −30 to 30 dB",
    logoutOffline: "Logging out needs a connection", discard: "Discard",
    waitsRefused: "Check refused: photos are sent on their own", cachedGone: "Not available to you",
  },
};

const VOCAB = {
  zh: {
    site_check: "现场检查", night_check: "夜查", monitoring: "监测", coordination_meeting: "协调会",
    joint_enforcement: "联合执法", police: "公安", culture_market: "文化市场执法", community: "社区",
    property_manager: "物业", street_office: "街道", environment_bureau: "生态环境局",
    urban_management: "城管", noise_social: "社会生活噪声", noise_commercial: "商业噪声",
    noise_construction: "建筑施工噪声", noise_industrial: "工业噪声", noise_traffic: "交通噪声",
    cooking_fumes: "餐饮油烟", odour: "异味", dust: "扬尘", water: "水污染", waste: "固废", other: "其他",
    received: "已受理", dispatched: "已交办", in_progress: "办理中", submitted: "待验收", closed: "已办结",
    hotline_12345: "12345热线", hotline_12369: "12369热线", phone: "电话", letter: "来信", visit: "来访",
    online: "网络投诉", media_monitoring: "舆情", inspection_batch: "督察交办",
    green: "正常", blue: "蓝色", yellow: "黄色", red: "红色",
    no_gps: "照片无GPS", no_location: "无位置", no_exif_time: "照片无拍摄时间",
    metadata_unreadable: "元数据不可读", clock_drift: "手机时钟偏差", captured_in_future: "拍摄时间晚于接收",
    exif_time_mismatch: "照片时间与记录不符", far_from_case: "距案件地址较远", gps_disagrees: "GPS与定位不一致",
    duplicate_bytes: "同一照片已用于其他案件",
  },
  en: {
    site_check: "Site check", night_check: "Night check", monitoring: "Monitoring",
    coordination_meeting: "Coordination meeting", joint_enforcement: "Joint enforcement",
    police: "Police", culture_market: "Culture-market enforcement", community: "Community",
    property_manager: "Property manager", street_office: "Street office",
    environment_bureau: "Environment bureau", urban_management: "Urban management",
    noise_social: "Social-life noise", noise_commercial: "Commercial noise",
    noise_construction: "Construction noise", noise_industrial: "Industrial noise",
    noise_traffic: "Traffic noise", cooking_fumes: "Cooking fumes", odour: "Odour", dust: "Dust",
    water: "Water", waste: "Waste", other: "Other", received: "Received", dispatched: "Dispatched",
    in_progress: "In progress", submitted: "Submitted", closed: "Closed",
    hotline_12345: "12345 hotline", hotline_12369: "12369 hotline", phone: "Phone", letter: "Letter",
    visit: "Visit", online: "Online", media_monitoring: "Media monitoring",
    inspection_batch: "Inspection batch", green: "Green", blue: "Blue", yellow: "Yellow", red: "Red",
    no_gps: "No GPS in photo", no_location: "No location", no_exif_time: "No time in photo",
    metadata_unreadable: "Metadata unreadable", clock_drift: "Phone clock off",
    captured_in_future: "Captured after receipt", exif_time_mismatch: "Photo time differs",
    far_from_case: "Far from the case", gps_disagrees: "GPS and fix disagree",
    duplicate_bytes: "Same photo on another case",
  },
};

let lang = localStorage.getItem("fieldcase.lang") || "zh";

export function getLang() {
  return lang;
}

export function setLang(value) {
  lang = value === "en" ? "en" : "zh";
  localStorage.setItem("fieldcase.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export function t(key) {
  return STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
}

export function term(value) {
  return VOCAB[lang][value] ?? VOCAB.en[value] ?? value;
}

setLang(lang);
